/**
 * The services framework as a process role: `dcos-node services --master=a,b,c`, or
 * embedded in the dev cluster. Several may run; one leads (see src/frameworks/services).
 */
import { ServicesServer, type ServicesOptions } from "../frameworks/services/services-server.js";

export type ServicesRoleOptions = ServicesOptions;

/** Marathon's port. */
export const DEFAULT_SERVICES_HTTP_PORT = 8080;

export function startServicesRole(options: ServicesRoleOptions): Promise<ServicesServer> {
  return ServicesServer.start(options);
}
