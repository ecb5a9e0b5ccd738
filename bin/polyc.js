#!/usr/bin/env node
import { runCli } from '../dist/compiler/src/cli/main.js';

// `polyc inspect ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
process.exitCode = await runCli(process.argv.slice(2));
