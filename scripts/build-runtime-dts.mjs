// The last step of `npm run build` (after tsc): the generated packages' runtime.d.ts, written once
// next to the built compiler (see compiler/src/codegen/package/runtime-dts.ts).
import { writePrebuiltRuntimeDeclarations } from '../dist/compiler/src/codegen/package/runtime-dts.js';

writePrebuiltRuntimeDeclarations();
