// Tests take their ports from the runtime's own probe, so both pick ports the same way.
export { freePort, freePorts } from '../../src/runtime/engines/free-port.js';
