/**
 * A throwaway redis-server for the fault tests: no persistence, its own port and directory, never the
 * shared server of TEST_REDIS_URL (which the tests must not stop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from '../multi-instance/cluster.js';

/** A throwaway redis-server without persistence on its own port. */
export class PrivateRedis {
  private proc: ChildProcess | null = null;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  async start(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      {
        stdio: 'ignore',
      },
    );
    await waitForPort(this.port);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
    this.proc = null;
  }
}
