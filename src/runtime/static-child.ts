/**
 * A static server of the `static` role, as the supervisor starts it (like an app
 * instance: `PORT`, `HOST`, `INSTANCE_ID`, the orphan guard, a log file). It serves
 * the static tier in `STATIC_DIR` and stops gracefully on SIGTERM.
 */
import { instanceEnv } from './instance-env.js';
import { STATIC_SERVER_ENV } from './static-group.js';
import { startStaticServer } from '../static/index.js';

async function main(): Promise<void> {
  const env = instanceEnv(process.env);
  if (env.staticDir === undefined) throw new Error('STATIC_DIR is not set: the static tier\'s folder');
  const healthPath = process.env[STATIC_SERVER_ENV.healthPath];
  const cacheControl = process.env[STATIC_SERVER_ENV.cacheControl];
  const { server, address } = await startStaticServer({
    dir: env.staticDir,
    port: env.port,
    host: env.host,
    instanceId: env.instanceId ?? 'static',
    ...(healthPath === undefined ? {} : { healthPath }),
    ...(cacheControl === undefined ? {} : { cacheControl }),
  });
  console.log(`static server ${env.instanceId ?? ''} on ${address}, serving ${env.staticDir}`);
  process.once('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(`the static server did not start: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
});
