/**
 * The dashboard: pages on the supervisor's control listener (`scaleout up` mounts them
 * through the Supervisor's `controlPages` option).
 */
export { createDashboard, DASHBOARD_CSP } from './server.js';
export type { DashboardRoutes } from './server.js';
export { DASHBOARD_PATH } from './session-cookie.js';
