import { checkPassGolden } from './harness.js';

// Folding and fusion passes: small IR files in, expected IR out (`npm run test:update` rewrites).
for (const pass of [
  'fold-batchnorm',
  'fold-scales',
  'fold-layernorm-weight',
  'layernorm-into-gemm',
  'fuse-polyconv',
  'fuse-attention',
  'fuse-kernels',
]) {
  checkPassGolden(pass, `test/passes/${pass}`);
}
