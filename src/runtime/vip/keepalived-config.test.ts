import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NetnsLab } from '../netns/netns-lab.js';
import { checkScript, checkVipOptions, keepalivedConfig } from './keepalived-config.js';
import type { VipOptions } from './keepalived-config.js';

const base: VipOptions = { address: '10.0.0.100/24', interface: 'eth0', routerId: 51, priority: 150, peers: ['10.0.0.3'], source: '10.0.0.2' };
const files = { trackFile: '/run/x/balancer-health', checkScript: '/run/x/check-balancer.sh' };

describe('keepalived config', () => {
  it('writes one VRRPv3 instance with unicast peers, nopreempt and both health inputs', () => {
    const conf = keepalivedConfig(base, files);
    expect(conf).toMatch(/vrrp_instance scaleout \{[\s\S]*state BACKUP[\s\S]*virtual_router_id 51[\s\S]*priority 150[\s\S]*version 3[\s\S]*advert_int 0\.1\n[\s\S]*nopreempt/);
    expect(conf).toMatch(/unicast_src_ip 10\.0\.0\.2\n\s+unicast_peer \{\n\s+10\.0\.0\.3\n\s+\}\n\s+check_unicast_src/);
    expect(conf).toMatch(/virtual_ipaddress \{\n\s+10\.0\.0\.100\/24 dev eth0/);
    expect(conf).toMatch(/track_file scaleout_guard \{\n\s+file "\/run\/x\/balancer-health"\n\s+weight 0/);
    expect(conf).toMatch(/vrrp_script scaleout_check \{\n\s+script "\/run\/x\/check-balancer\.sh"\n\s+interval 1\n\s+timeout 1/);
    expect(keepalivedConfig({ ...base, preempt: true, advertIntervalMs: 250 }, files)).not.toMatch(/nopreempt/);
    expect(keepalivedConfig({ ...base, advertIntervalMs: 250 }, files)).toMatch(/advert_int 0\.25\n/);
  });

  it('is accepted by keepalived itself (config test mode, on a namespace host that has the interface)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaleout-ka-'));
    const lab = await NetnsLab.create();
    try {
      const host = await lab.addHost('ka');
      const file = join(dir, 'keepalived.conf');
      writeFileSync(file, keepalivedConfig({ ...base, source: host.address }, { trackFile: join(dir, 't'), checkScript: '/bin/true' }));
      await expect(host.exec('keepalived', ['--config-test', '-f', file])).resolves.toBeDefined();
    } finally {
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses settings keepalived could not use, saying which', () => {
    expect(checkVipOptions(base)).toBeUndefined();
    expect(checkVipOptions({ ...base, address: '10.0.0.100' })).toMatch(/prefix length/);
    expect(checkVipOptions({ ...base, address: '10.0.0.300/24' })).toMatch(/prefix length/);
    expect(checkVipOptions({ ...base, routerId: 0 })).toMatch(/routerId must be 1 to 255/);
    expect(checkVipOptions({ ...base, priority: 255 })).toMatch(/priority must be 1 to 254/);
    expect(checkVipOptions({ ...base, peers: [] })).toMatch(/peers/);
    expect(checkVipOptions({ ...base, peers: ['peer; rm -rf /'] })).toMatch(/no IPv4 address/);
    expect(checkVipOptions({ ...base, interface: 'eth0 { }' })).toMatch(/interface/);
    expect(checkVipOptions({ ...base, advertIntervalMs: 105 })).toMatch(/multiple of 10/);
  });

  it('checks the balancer with a script that is bounded by timeout and needs no curl', () => {
    const script = checkScript('127.0.0.1', 8080, '/healthz');
    expect(script).toMatch(/^#!\/bin\/sh\n/);
    expect(script).toMatch(/exec \/usr\/bin\/timeout -s KILL 0\.8 \/bin\/bash -c/);
    expect(script).toContain('/dev/tcp/127.0.0.1/8080');
    expect(script).toContain('GET /healthz HTTP/1.0');
  });
});
