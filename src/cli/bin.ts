#!/usr/bin/env node
import { run } from './run.js';
import { processIo } from './io.js';

// A reader that goes away (`| head`) is not an error of ours.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
process.exitCode = await run(process.argv.slice(2), processIo());
