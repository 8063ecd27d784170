/**
 * Says at start-up, loudly, when nobody is authenticated. `AUTH_MODE=none` is the zero-configuration
 * default on loopback in development; with NODE_ENV=production it runs only when asked for by name
 * (auth/config.ts) and is then logged at error level, so it stands out in any log pipeline.
 */
import type { Logger } from "../logger.js";
import type { AuthConfig } from "./config.js";

export const UNAUTHENTICATED_WARNING =
  "AUTH_MODE=none: NO AUTHENTICATION, every caller may register and read anyone and receives their LCIC login tokens (allowed only on loopback; set AUTH_MODE=jwt with AUTH_JWKS_URL or AUTH_JWT_SECRET to require tokens)";

export function announceAuthMode(config: { auth: AuthConfig; production: boolean; host: string }, logger: Logger): void {
  if (config.auth.mode !== "none") return;
  const fields = { host: config.host, production: config.production, authMode: "none" };
  if (config.production) logger.error(fields, UNAUTHENTICATED_WARNING);
  else logger.warn(fields, UNAUTHENTICATED_WARNING);
}
