/**
 * One line for a test that needs LCIC: an in-process emulator on a free port plus a real
 * SDK-backed client pointed at it.
 */
import { LcicError } from "../../src/lcic/errors.js";
import { createLcicClient, type LcicClient, type LcicClientConfig } from "../../src/lcic/client.js";
import { startLcicEmulator, type EmulatorOptions, type LcicEmulator } from "../../src/lcic/emulator/index.js";

export interface TestLcic {
  emulator: LcicEmulator;
  client: LcicClient;
  clientConfig: LcicClientConfig;
  close(): Promise<void>;
}

export async function startTestLcic(options: EmulatorOptions & { timeoutMs?: number } = {}): Promise<TestLcic> {
  const { timeoutMs = 5_000, ...emulatorOptions } = options;
  const emulator = await startLcicEmulator(emulatorOptions);
  const clientConfig: LcicClientConfig = {
    endpoint: emulator.url,
    secretId: emulator.credentials.secretId,
    secretKey: emulator.credentials.secretKey,
    timeoutMs,
  };
  return {
    emulator,
    client: createLcicClient(clientConfig),
    clientConfig,
    close: () => emulator.close(),
  };
}

/** The LcicError a promise rejects with; throws if it resolves or rejects with something else. */
export async function catchLcicError(promise: Promise<unknown>): Promise<LcicError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LcicError) return error;
    throw new Error(`expected an LcicError, got ${String(error)}`, { cause: error });
  }
  throw new Error("expected an LcicError, but the call succeeded");
}
