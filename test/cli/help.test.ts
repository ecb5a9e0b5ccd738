import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../compiler/src/cli/commands/index.js';
import { HELP_OPTION, type OptionSpec } from '../../compiler/src/cli/options.js';
import { cli } from '../helpers.js';

/** Help is generated from the option table: every command, every option, every description. */
describe('polyc --help', () => {
  it('lists every command with its summary', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    const width = Math.max(...COMMANDS.map((c) => c.name.length));
    for (const c of COMMANDS) expect(r.out).toContain(`\n  ${c.name.padEnd(width)}  ${c.summary}\n`);
  });

  it.each(COMMANDS.map((c) => [c.name, c] as const))(
    'polyc %s --help: usage and every option',
    async (name, c) => {
      const r = await cli(name, '--help');
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      const lines = r.out.split('\n');
      expect(lines[0]).toBe(`polyc ${name}: ${c.summary}`);
      const required = c.options
        .filter((o) => o.type === 'string' && o.required)
        .map((o) => `${o.short === undefined ? `--${o.name}` : `-${o.short}`} ${value(o)}`);
      expect(lines).toContain(
        ['usage: polyc', name, c.operands, ...required, '[options]'].filter((p) => p).join(' '),
      );
      const starts = new Set<number>();
      for (const o of [...c.options, HELP_OPTION]) {
        const line = lines.find((l) => l.includes(`--${o.name}`) && l.endsWith(`  ${o.description}`));
        expect(line, `--${o.name}`).toBeDefined();
        if (o.short !== undefined) expect(line).toContain(`-${o.short}, --${o.name}`);
        if (o.type === 'string') expect(line).toContain(`--${o.name} ${o.value}`);
        starts.add(line!.length - o.description.length);
      }
      expect(starts.size, 'descriptions start in one column').toBe(1);
    },
  );

  it('polyc compile --help documents --labels and --license', async () => {
    const r = await cli('compile', '--help');
    expect(r.out).toMatch(
      /--labels <file\|imagenet> .*'imagenet' \(default for 1000 classes; none otherwise\)/,
    );
    expect(r.out).toMatch(/--license <spdx> .*\(default UNLICENSED\)/);
  });

  it('-h is --help', async () => {
    expect((await cli('opt', '-h')).out).toEqual((await cli('opt', '--help')).out);
  });

  it.each(COMMANDS.map((c) => c.name))(
    'polyc %s: an unknown option is a usage error naming the command',
    async (name) => {
      const r = await cli(name, '--no-such-option');
      expect(r.code).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toContain(`error[E0701]: unknown option '--no-such-option' for polyc ${name}`);
      expect(r.err).toContain(`usage: polyc ${name}`);
    },
  );

  it('suggests the nearest option', async () => {
    const r = await cli('inspect', 'examples/cpolynext_t.poly', '--pases=dce');
    expect(r.err).toContain("unknown option '--pases' for polyc inspect; did you mean '--passes'?");
  });

  it('a string option without its value is a usage error', async () => {
    const r = await cli('opt', 'test/ir/golden/tiny.ir', '--passes');
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0701]');
    expect(r.err).toContain('usage: polyc opt <file.ir> [options]');
  });
});

function value(o: OptionSpec): string {
  return o.type === 'string' ? o.value : '';
}
