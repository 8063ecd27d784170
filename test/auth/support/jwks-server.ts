import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/** A JWKS endpoint on 127.0.0.1:0 whose key set a test can replace, counting the fetches it serves. */
export interface JwksServer {
  url: URL;
  /** Replace the published keys (public JWKs). */
  publish(keys: JWK[]): void;
  /** Make the next responses fail with this status (undefined restores normal answers). */
  failWith(status: number | undefined): void;
  fetchCount(): number;
  close(): Promise<void>;
}

export async function startJwksServer(initial: JWK[] = []): Promise<JwksServer> {
  let keys = initial;
  let failure: number | undefined;
  let fetches = 0;
  const server: Server = createServer((request, response) => {
    fetches += 1;
    if (failure !== undefined) {
      response.writeHead(failure).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`),
    publish: (next) => {
      keys = next;
    },
    failWith: (status) => {
      failure = status;
    },
    fetchCount: () => fetches,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function generateSigningKey(alg: "RS256" | "ES256", kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export interface TokenOptions {
  issuer?: string;
  audience?: string | string[];
  subject?: string;
  /** Seconds from now; negative for the past. Default one hour ahead; null for no exp. */
  expiresIn?: number | null;
  /** Seconds from now for nbf. */
  notBefore?: number;
  kid?: string;
}

export async function signToken(
  key: { privateKey: CryptoKey | Uint8Array; alg: string; kid?: string },
  claims: JWTPayload,
  options: TokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const kid = options.kid ?? key.kid;
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: "JWT", ...(kid ? { kid } : {}) }).setIssuedAt(now);
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  if (options.subject !== undefined) jwt = jwt.setSubject(options.subject);
  const expiresIn = options.expiresIn === undefined ? 3600 : options.expiresIn;
  if (expiresIn !== null) jwt = jwt.setExpirationTime(now + expiresIn);
  if (options.notBefore !== undefined) jwt = jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key.privateKey);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An unsecured token (`alg: none`, empty signature), built by hand because jose will not sign one. */
export function unsecuredToken(claims: JWTPayload, header: Record<string, unknown> = {}): string {
  return `${base64url({ alg: "none", typ: "JWT", ...header })}.${base64url(claims)}.`;
}
