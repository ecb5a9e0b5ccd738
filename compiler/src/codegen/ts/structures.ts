import {
  type InterfaceDeclarationStructure,
  StructureKind,
  VariableDeclarationKind,
  type VariableStatementStructure,
} from 'ts-morph';

/** ts-morph structures that more than one generated file declares. */

/** `const name = init;`, documented by `doc` when given. */
export function constant(
  name: string,
  init: string,
  doc?: string,
  exported = false,
): VariableStatementStructure {
  return {
    kind: StructureKind.VariableStatement,
    declarationKind: VariableDeclarationKind.Const,
    isExported: exported,
    ...(doc ? { docs: [doc] } : {}),
    declarations: [{ name, initializer: init }],
  };
}

/**
 * What the API's `Model` needs of a backend: `adapterInfo`, `run(input, batch)` returning the
 * logits (`runReturns`: the CPU's synchronously, any backend's possibly as a promise), `destroy`.
 */
export function engineInterface(
  name: string,
  runReturns: string,
  exported: boolean,
): InterfaceDeclarationStructure {
  return {
    kind: StructureKind.Interface,
    name,
    isExported: exported,
    properties: [{ name: 'adapterInfo', isReadonly: true, type: 'string' }],
    methods: [
      {
        name: 'run',
        parameters: [
          { name: 'input', type: 'Float32Array' },
          { name: 'batch', type: 'number' },
        ],
        returnType: runReturns,
      },
      { name: 'destroy', returnType: 'void' },
    ],
  };
}
