/**
 * Every diagnostic code polyc emits, with a one-line summary. Codes are stable: never reuse or
 * renumber one. Ranges: E01 syntax, E02 names and imports, E03 compile-time evaluation, E04 tensor
 * shapes, E05 the polynomial rule, E06 checkpoints, E07 command line and input files, E08 IR text and
 * verifier, E09 export, E10 packaging (`polyc compile`), E11 evaluation (`polyc eval`).
 */
export const CODES = {
  E0101: 'unexpected character',
  E0102: 'syntax error',
  E0103: 'unterminated string',
  E0104: 'invalid escape in a string literal',
  E0105: 'nesting too deep',

  E0201: 'unknown name',
  E0202: 'name defined twice',
  E0203: 'cannot read imported file',
  E0204: 'import cycle',
  E0205: 'no model in file',
  E0206: 'unknown setting',
  E0207: 'unknown function or block',
  E0208: 'unknown field',
  E0209: 'imports nest too deep',

  E0301: 'wrong type for a compile-time value',
  E0302: 'wrong number or kind of arguments',
  E0303: 'compile-time evaluation failed',
  E0304: 'assertion failed',
  E0305: 'block did not return a value',
  E0306: 'recursion too deep',
  E0307: 'index out of range',
  E0308: 'invalid setting value',
  E0309: 'compile-time evaluation limit exceeded',
  E0310: 'integer beyond 2^53',

  E0401: 'incompatible tensor shapes',
  E0402: 'invalid slice or reshape',
  E0403: 'invalid convolution',
  E0404: 'parameter declared twice with different shapes',
  E0405: 'invalid tensor rank',
  E0406: 'invalid tensor dimension',
  E0407: 'model size limit exceeded',

  E0501: 'non-polynomial function applied to data',
  E0502: 'non-integer or negative power',

  E0601: 'not a readable checkpoint',
  E0602: 'unsafe pickle: forbidden global',
  E0603: 'unsupported pickle opcode',
  E0604: 'malformed pickle',
  E0605: 'no state dict found',
  E0606: 'unsupported tensor dtype or layout',
  E0607: 'checkpoint does not match the model',
  E0608: 'truncated or corrupt tensor data',

  E0701: 'invalid command line',
  E0702: 'cannot read input file',
  E0703: 'input does not match the model',
  E0704: 'cannot write output file',
  E0705: 'unknown pass or malformed pipeline',
  E0706: 'WebGPU unavailable or failed',
  E0707: 'invalid tune cache',
  E0708: 'input file too large',

  E0801: 'malformed IR text',
  E0802: 'IR verification failed',
  E0803: 'IR text nested too deeply',

  E0901: 'unsupported ONNX opset',
  E0902: 'op has no ONNX form',

  E1001: 'model not supported by polyc compile',
  E1002: 'labels do not match the model',
  E1003: 'weight beyond float16 range',

  E1101: 'no images in the image folder',
  E1102: 'unreadable or undecodable image',
  E1103: 'image folder classes do not match the model or labels',
  E1104: 'model input is not an image',
} as const;

export type Code = keyof typeof CODES;
