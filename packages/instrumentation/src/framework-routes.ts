/**
 * Route templates from frameworks that do not leave them on the raw request (Fastify, ...):
 * hooks that set FRAMEWORK_ROUTE on the IncomingMessage, which routeOf reads first.
 */
export function installFrameworkRouteHooks(): void {
  // filled in per framework
}
