import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { type PickleValue, TensorRef, unpickle } from '../../compiler/src/import/pickle.js';
import { bytesOf, diagnosticOf, golden } from './helpers.js';

const run = (s: string): PickleValue => unpickle(bytesOf(s));
const u32 = (n: number): string => String.fromCharCode(n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24);
const str = (s: string): string => `X${u32(s.length)}${s}`;

describe('unpickle: values', () => {
  it('reads scalars', () => {
    expect(run('\x80\x02K\x05.')).toBe(5);
    expect(run('\x80\x02M\x00\x01.')).toBe(256);
    expect(run('\x80\x02J\xfb\xff\xff\xff.')).toBe(-5);
    expect(run('\x80\x02\x8a\x06\x00\x00\x00\x00\x00\x01.')).toBe(2 ** 40);
    expect(run('\x80\x02\x8a\x01\xff.')).toBe(-1);
    expect(run('\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.')).toBe(2n ** 64n);
    expect(run('\x80\x02G?\xf8\x00\x00\x00\x00\x00\x00.')).toBe(1.5);
    expect(run('\x80\x02\x88.')).toBe(true);
    expect(run('\x80\x02\x89.')).toBe(false);
    expect(run('\x80\x02N.')).toBe(null);
  });

  it('reads strings and bytes', () => {
    expect(run(`\x80\x02${str('h\xc3\xa9')}.`)).toBe('hé');
    expect(run('\x80\x04\x8c\x02ab.')).toBe('ab');
    expect(run('\x80\x04\x8d\x02\x00\x00\x00\x00\x00\x00\x00ab.')).toBe('ab');
    expect(run('\x80\x02U\x02ab.')).toBe('ab');
    expect(run('\x80\x02T\x02\x00\x00\x00ab.')).toBe('ab');
    expect(run('\x80\x03C\x02\x00\xff.')).toEqual(new Uint8Array([0, 255]));
    expect(run('\x80\x03B\x01\x00\x00\x00\x07.')).toEqual(new Uint8Array([7]));
    // Protocol 2 spells bytes as _codecs.encode(text, 'latin1').
    expect(run(`\x80\x02c_codecs\nencode\n${str('\xc3\xbf\x00')}${str('latin1')}\x86R.`)).toEqual(
      new Uint8Array([255, 0]),
    );
  });

  it('builds containers, with the memo sharing objects', () => {
    expect(run('\x80\x02]q\x00(K\x01K\x02eK\x03a.')).toEqual([1, 2, 3]);
    expect(run('\x80\x02(K\x01K\x02l.')).toEqual([1, 2]);
    expect(run('\x80\x02K\x01K\x02K\x03\x87.')).toEqual([1, 2, 3]);
    expect(run('\x80\x02(K\x01K\x02K\x03t.')).toEqual([1, 2, 3]);
    const d = run(`\x80\x02}q\x00(${str('a')}q\x01h\x01${str('b')}]q\x02u.`);
    expect(d).toEqual(
      new Map<PickleValue, PickleValue>([
        ['a', 'a'],
        ['b', []],
      ]),
    );
    expect(run(`\x80\x02(${str('k')}K\x01d.`)).toEqual(new Map([['k', 1]]));
    expect(run(`\x80\x02}${str('k')}K\x01s.`)).toEqual(new Map([['k', 1]]));
    // LONG_BINPUT / LONG_BINGET, DUP, POP, POP_MARK
    expect(run('\x80\x02K\x09r\x00\x01\x00\x000j\x00\x01\x00\x00.')).toBe(9);
    expect(run('\x80\x02K\x01(K\x02K\x031\x32\x86.')).toEqual([1, 1]);
  });

  it('handles protocol 4 framing, STACK_GLOBAL and MEMOIZE', () => {
    const od = run(
      '\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.',
    );
    expect(od).toEqual(new Map());
  });

  it('rebuilds tensors as data, and unwraps parameters', () => {
    const storage = `(${str('storage')}ctorch\nHalfStorage\n${str('7')}${str('cpu')}K\x06tQ`;
    const t = `ctorch._utils\n_rebuild_tensor_v2\n(${storage}K\x01K\x02K\x02\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\n)RtR`;
    const v = run(`\x80\x02ctorch._utils\n_rebuild_parameter\n(${t}\x88ccollections\nOrderedDict\n)RtR.`);
    expect(v).toBeInstanceOf(TensorRef);
    const ref = v as TensorRef;
    expect(ref.storage).toMatchObject({ dtype: 'f16', typeName: 'torch.HalfStorage', key: '7', numel: 6 });
    expect([ref.offset, ref.shape, ref.stride]).toEqual([1, [2, 2], [1, 2]]);
  });
});

describe('unpickle: refusals', () => {
  it.each([
    ['os', 'system'],
    ['posix', 'system'],
    ['builtins', 'eval'],
    ['__builtin__', 'eval'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['torch._utils', '_rebuild_tensor'],
    ['torch.storage', 'UntypedStorage'],
    ['torch', 'constructor'],
    ['collections', '__proto__'],
  ])('refuses global %s.%s at the GLOBAL opcode', (module, name) => {
    // Followed by a REDUCE that would call it: the refusal must come first, at offset 2.
    const d = diagnosticOf(() => run(`\x80\x02c${module}\n${name}\n${str('x')}\x85R.`));
    expect(d.code).toBe('E0602');
    expect(d.message).toContain(`${module}.${name}`);
    expect(d.message).toContain('offset 2');
  });

  it('refuses STACK_GLOBAL off the allow-list', () => {
    const d = diagnosticOf(() => run('\x80\x04\x8c\x08builtins\x94\x8c\x04exec\x94\x93\x94.'));
    expect(d).toMatchObject({ code: 'E0602', message: expect.stringContaining('builtins.exec') });
  });

  it('refuses to call a storage class', () => {
    const d = diagnosticOf(() => run('\x80\x02ctorch\nFloatStorage\n)R.'));
    expect(d).toMatchObject({ code: 'E0602', message: expect.stringContaining('torch.FloatStorage') });
  });

  it.each([
    ['NEWOBJ', '\x80\x02\x81.', '0x81'],
    ['INST', '\x80\x02i', "0x69 ('i')"],
    ['EXT1', '\x80\x02\x82\x01.', '0x82'],
    ['protocol 0 INT', 'I1\n.', "0x49 ('I')"],
  ])('refuses opcode %s with its byte and offset', (_name, pickle, byte) => {
    const d = diagnosticOf(() => run(pickle));
    expect(d.code).toBe('E0603');
    expect(d.message).toContain(byte);
    expect(d.message).toMatch(/at offset \d+/);
  });

  it('refuses pickle protocols above 5', () => {
    expect(diagnosticOf(() => run('\x80\x06N.')).code).toBe('E0603');
  });

  it.each([
    ['stack underflow', '\x80\x02\x85.', 'underflow'],
    ['popping below a MARK', '\x80\x02K\x01(\x85.', 'underflow'],
    ['a missing MARK', '\x80\x02K\x01t.', 'MARK'],
    ['truncated string', '\x80\x02X\x05\x00\x00\x00ab', 'truncated'],
    ['truncated opcode argument', '\x80\x02J\x01', 'truncated'],
    ['missing STOP', '\x80\x02K\x01', 'truncated'],
    ['unterminated GLOBAL', '\x80\x02ccollections', 'truncated'],
    ['a memo entry never stored', '\x80\x02h\x07.', 'memo'],
    ['an unbalanced STOP', '\x80\x02K\x01K\x02.', 'STOP'],
    ['SETITEM on a list', '\x80\x02]K\x01K\x02s.', 'dict'],
    ['APPEND on a dict', '\x80\x02}K\x01a.', 'list'],
    ['odd DICT items', '\x80\x02(K\x01d.', 'odd'],
    ['BUILD on a list', '\x80\x02]}b.', 'BUILD'],
    ['REDUCE on a non-global', '\x80\x02K\x01)R.', 'REDUCE'],
    ['invalid UTF-8', '\x80\x02X\x01\x00\x00\x00\xff.', 'UTF-8'],
    ['a foreign persistent id', '\x80\x02K\x01Q.', 'persistent id'],
    [
      '_codecs.encode to another codec',
      `\x80\x02c_codecs\nencode\n${str('a')}${str('rot13')}\x86R.`,
      'latin1',
    ],
    ['bad tensor arguments', '\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x01tR.', '_rebuild_tensor_v2'],
  ])('reports %s as E0604', (_what, pickle, words) => {
    const d = diagnosticOf(() => run(pickle));
    expect(d.code).toBe('E0604');
    expect(d.message).toContain(words);
  });
});

describe('unpickle: robustness', () => {
  const pkl = unzipSync(golden('cpolynext_lr_small/weights.pt'))['weights/data.pkl']!;

  it('reads the golden data.pkl', () => {
    const root = unpickle(pkl);
    expect(root).toBeInstanceOf(Map);
    expect((root as Map<PickleValue, PickleValue>).size).toBe(262);
  });

  it('gives a diagnostic for every truncation of a real pickle', () => {
    for (let n = 0; n < pkl.length; n += 7) {
      expect(diagnosticOf(() => unpickle(pkl.subarray(0, n))).code).toBe('E0604');
    }
  });

  it('never throws anything but a diagnostic on corrupted bytes', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 2000; trial++) {
      const bad = pkl.slice();
      for (let k = 0; k < 1 + rand(4); k++) bad[rand(bad.length)] = rand(256);
      try {
        unpickle(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(DiagnosticError);
      }
    }
  });
});
