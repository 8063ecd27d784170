import { readFileSync } from "node:fs";
import type { GraphQLParams } from "graphql-yoga";

/**
 * Trusted documents (persisted operations): operation id → GraphQL document, read once at start-up.
 *
 * Accepted file formats (JSON):
 * - a plain map `{ "<id>": "query …" }` (GraphQL Codegen client preset's `persisted-documents.json`);
 * - Apollo's manifest `{ "format": "apollo-persisted-query-manifest", "operations": [{ "id", "body" }] }`.
 */
export class TrustedDocumentsError extends Error {
  override readonly name = "TrustedDocumentsError";
}

export function loadTrustedDocuments(file: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new TrustedDocumentsError(`TRUSTED_DOCUMENTS_FILE: cannot read ${file} as JSON (${(error as Error).message})`);
  }
  const documents = new Map<string, string>();
  if (raw && typeof raw === "object" && (raw as { format?: unknown }).format === "apollo-persisted-query-manifest") {
    const operations = (raw as { operations?: unknown }).operations;
    if (!Array.isArray(operations)) throw new TrustedDocumentsError("TRUSTED_DOCUMENTS_FILE: manifest has no operations array");
    for (const op of operations as Array<{ id?: unknown; body?: unknown }>) {
      if (typeof op?.id !== "string" || typeof op.body !== "string") {
        throw new TrustedDocumentsError("TRUSTED_DOCUMENTS_FILE: every manifest operation needs a string id and body");
      }
      documents.set(normalizeId(op.id), op.body);
    }
  } else if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    for (const [id, body] of Object.entries(raw)) {
      if (typeof body !== "string") throw new TrustedDocumentsError(`TRUSTED_DOCUMENTS_FILE: the document for "${id}" must be a string`);
      documents.set(normalizeId(id), body);
    }
  } else {
    throw new TrustedDocumentsError("TRUSTED_DOCUMENTS_FILE: expected a JSON object of id → document, or an Apollo manifest");
  }
  if (documents.size === 0) throw new TrustedDocumentsError("TRUSTED_DOCUMENTS_FILE: lists no operations, so nothing could run");
  return documents;
}

/**
 * The operation id a request names: `documentId` (GraphQL over HTTP trusted documents), or
 * Apollo's `extensions.persistedQuery.sha256Hash`. A `sha256:` prefix is accepted and ignored.
 */
export function operationIdOf(params: GraphQLParams): string | null {
  const documentId = (params as GraphQLParams & { documentId?: unknown }).documentId;
  const persisted = (params.extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | undefined)?.persistedQuery;
  const id = typeof documentId === "string" ? documentId : typeof persisted?.sha256Hash === "string" ? persisted.sha256Hash : null;
  return id === null ? null : normalizeId(id);
}

const normalizeId = (id: string) => id.replace(/^sha256:/, "");
