// The scaleout command from the sources (no build of dist needed): `node --import tsx scaleout-cli.ts <args>`.
import { main } from '../../../src/cli/main.js';

main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code;
});
