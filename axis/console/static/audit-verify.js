// Checks an audit-log entry in the browser, trusting nothing the server says but the axis
// certificate the auditor chose: the entry's leaf hash, its RFC 9162 inclusion proof up to
// a checkpoint's root, and the checkpoint's ECDSA P-256 signature (a C2SP signed note).
// The same algorithms as axis/audit/merkle.py, signing/merkle.py and signing/checkpoints.py.
//
// No dependencies: WebCrypto only, which browsers offer in a secure context (https://, or
// http://localhost and http://127.0.0.1).
//
//   import { verifyEntryProof, fetchAndVerify } from "/ui/static/audit-verify.js";
//   const result = await verifyEntryProof(proofJson, certificatePem);
//   // proofJson: GET /v1/audit/entries/{position}/proof; certificatePem: GET /v1/audit/certificate
//   result.ok; result.checkpoint (what it was checked against); result.failures

const SIGNATURE_PREFIX = "\u2014 "; // an em dash and a space starts every signature line
const HASH_SIZE = 32;
const P256_SIGNATURE_PART = 32;
const EC_PUBLIC_KEY = "2a8648ce3d0201"; // OID 1.2.840.10045.2.1
const PRIME256V1 = "2a8648ce3d030107"; // OID 1.2.840.10045.3.1.7

class VerifyError extends Error {}

// --- bytes -----------------------------------------------------------------------------

export function base64ToBytes(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new VerifyError("not base64");
  }
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw new VerifyError("not base64");
  }
}

function bytesToBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function sha256(...parts) {
  const data = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

// --- RFC 9162 Merkle tree ----------------------------------------------------------------

/** SHA-256(0x00 || entry): the prefix keeps a leaf from passing for an inner node. */
export function leafHash(entry) {
  return sha256(Uint8Array.of(0), entry);
}

function nodeHash(left, right) {
  return sha256(Uint8Array.of(1), left, right);
}

/** RFC 9162 section 2.1.3.2: the root `proof` leads to from `leaf` at `index` in a tree of
 * `size` leaves, or null when the proof cannot belong there (a node too many or too few). */
export async function rootFromInclusionProof(leaf, index, size, proof) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(Number(size))) return null;
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn < 0n || fn > sn || leaf.length !== HASH_SIZE) return null;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n || p.length !== HASH_SIZE) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

// --- signed-note checkpoints (c2sp.org/signed-note, tlog-checkpoint) ----------------------

/** The note's signed text, its checkpoint, and its signature lines. The checkpoint is to be
 * believed only once a signature over `text` verified. */
export function parseCheckpointNote(note) {
  if (typeof note !== "string") throw new VerifyError("the checkpoint note is not text");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new VerifyError("the checkpoint has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw new VerifyError("the checkpoint's signatures do not end in a newline");
  const signatures = block.slice(0, -1).split("\n").map((line, i) => {
    const rest = line.startsWith(SIGNATURE_PREFIX) ? line.slice(SIGNATURE_PREFIX.length) : null;
    const space = rest === null ? -1 : rest.indexOf(" ");
    if (space <= 0) throw new VerifyError(`signature line ${i + 1} is not "\u2014 <name> <base64>"`);
    const raw = base64ToBytes(rest.slice(space + 1));
    if (raw.length < 5) throw new VerifyError(`signature line ${i + 1} is too short`);
    return { name: rest.slice(0, space), keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  const lines = text.slice(0, -1).split("\n");
  if (lines.length !== 4) throw new VerifyError(`the checkpoint has ${lines.length} text lines, not 4`);
  const [origin, size, root, time] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new VerifyError(`the tree size ${JSON.stringify(size)} is not a number`);
  const rootBytes = base64ToBytes(root);
  if (rootBytes.length !== HASH_SIZE) throw new VerifyError("the root hash is not 32 bytes");
  const moment = /^time ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)$/.exec(time);
  if (!moment) throw new VerifyError("the fourth line is not `time <RFC 3339 UTC>`");
  return {
    text,
    checkpoint: { origin, size: BigInt(size), root: rootBytes, time: moment[1] },
    signatures,
  };
}

// --- the axis certificate: just enough DER to find its key and validity -------------------

function derElement(bytes, offset) {
  if (offset + 2 > bytes.length) throw new VerifyError("truncated DER");
  const tag = bytes[offset];
  let length = bytes[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new VerifyError("a bad DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new VerifyError("truncated DER");
  return { tag, offset, start, end };
}

function derChildren(bytes, parent) {
  const children = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = derElement(bytes, at);
    children.push(child);
    at = child.end;
  }
  return children;
}

function derTime(bytes, element) {
  const text = String.fromCharCode(...bytes.slice(element.start, element.end));
  const utc = element.tag === 0x17 ? /^([0-9]{2})([0-9]{10})Z$/.exec(text) : null;
  const generalized = element.tag === 0x18 ? /^([0-9]{4})([0-9]{10})Z$/.exec(text) : null;
  if (!utc && !generalized) throw new VerifyError("the certificate's validity is not a UTC time");
  const year = utc ? (Number(utc[1]) < 50 ? 2000 : 1900) + Number(utc[1]) : Number(generalized[1]);
  const [month, day, hour, minute, second] = (utc || generalized)[2].match(/../g).map(Number);
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
}

/** The DER SubjectPublicKeyInfo and validity of a PEM (or DER) X.509 certificate, and its
 * SHA-256 fingerprint: what an auditor compares with the axis's published one. */
export async function readCertificate(certificate) {
  let der = certificate;
  if (typeof certificate === "string") {
    const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(certificate);
    if (!body) throw new VerifyError("no PEM certificate");
    der = base64ToBytes(body[1].replace(/\s+/g, ""));
  }
  try {
    return await readCertificateDer(der);
  } catch (error) {
    throw error instanceof VerifyError ? error : new VerifyError("not an X.509 certificate");
  }
}

async function readCertificateDer(der) {
  const outer = derElement(der, 0);
  const tbs = derChildren(der, outer)[0];
  let fields = derChildren(der, tbs);
  if (fields[0].tag === 0xa0) fields = fields.slice(1); // [0] version
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
  const [validity, , spki] = fields.slice(3, 6);
  if (!spki || spki.tag !== 0x30) throw new VerifyError("no public key in the certificate");
  const [notBefore, notAfter] = derChildren(der, validity).map((t) => derTime(der, t));
  const algorithm = derChildren(der, derChildren(der, spki)[0]).map((e) => hex(der.slice(e.start, e.end)));
  return {
    spki: der.slice(spki.offset, spki.end),
    ecdsaP256: algorithm[0] === EC_PUBLIC_KEY && algorithm[1] === PRIME256V1,
    notBefore,
    notAfter,
    sha256: hex(await sha256(der.slice(0, outer.end))),
  };
}

/** ASN.1 DER ECDSA-Sig-Value (what the note carries) to the raw r || s WebCrypto wants. */
export function rawEcdsaSignature(der) {
  const sequence = derElement(der, 0);
  const parts = sequence.tag === 0x30 && sequence.end === der.length ? derChildren(der, sequence) : [];
  if (parts.length !== 2 || parts.some((p) => p.tag !== 0x02)) {
    throw new VerifyError("the signature is not an ECDSA-Sig-Value");
  }
  const raw = new Uint8Array(2 * P256_SIGNATURE_PART);
  parts.forEach((part, i) => {
    let value = der.slice(part.start, part.end);
    while (value.length > 1 && value[0] === 0) value = value.slice(1);
    if (value.length > P256_SIGNATURE_PART) throw new VerifyError("the signature is not P-256");
    raw.set(value, (i + 1) * P256_SIGNATURE_PART - value.length);
  });
  return raw;
}

async function verifyNoteSignature(note, certificate, keyName) {
  if (!certificate.ecdsaP256) throw new VerifyError("the certificate's key is not ECDSA P-256");
  const keyId = (await sha256(certificate.spki)).slice(0, 4);
  const ours = note.signatures.filter((s) => s.name === keyName && equal(s.keyId, keyId));
  if (ours.length === 0) {
    throw new VerifyError(`no signature by ${keyName}+${hex(keyId)}: not signed by this certificate's key`);
  }
  if (ours.length > 1) throw new VerifyError(`${ours.length} signature lines by ${keyName}+${hex(keyId)}`);
  const key = await crypto.subtle.importKey(
    "spki", certificate.spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"],
  );
  const valid = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" }, key, rawEcdsaSignature(ours[0].signature),
    new TextEncoder().encode(note.text),
  );
  if (!valid) throw new VerifyError("the checkpoint signature does not verify: the note was changed or forged");
  const time = new Date(note.checkpoint.time);
  if (time < certificate.notBefore || time > certificate.notAfter) {
    throw new VerifyError(`the checkpoint's time ${note.checkpoint.time} is outside the certificate's validity`);
  }
}

// --- the whole check -----------------------------------------------------------------------

async function attempt(failures, what, check) {
  try {
    await check();
    return true;
  } catch (error) {
    if (!(error instanceof VerifyError)) throw error;
    failures.push(`${what}: ${error.message}`);
    return false;
  }
}

/**
 * Verify one entry's proof as `GET /v1/audit/entries/{position}/proof` returns it, against
 * `certificate` (PEM text or DER bytes: the axis certificate the auditor trusts).
 *
 * Three checks, each reported: `entry` (its bytes name the position asked for), `inclusion`
 * (its leaf hash and proof lead to the checkpoint's root, at the checkpoint's size) and
 * `signature` (the checkpoint note is signed by the certificate's key under `keyName`, by
 * default the note's origin, at a time the certificate was valid). `checkpoint` is taken
 * from the signed note itself, never from the server's other fields.
 *
 * Returns { ok, position, checkpoint: {origin, size, root, time} | null,
 *           certificate: {sha256, notBefore, notAfter} | null,
 *           checks: {entry, inclusion, signature}, failures: [text] }.
 */
export async function verifyEntryProof(proof, certificate, { keyName } = {}) {
  const failures = [];
  const checks = { entry: false, inclusion: false, signature: false };
  let note = null;
  let cert = null;
  let entry = null;
  await attempt(failures, "checkpoint", () => { note = parseCheckpointNote(proof?.checkpoint?.note); });
  await attempt(failures, "certificate", async () => { cert = await readCertificate(certificate); });
  checks.entry = await attempt(failures, "entry", () => {
    entry = base64ToBytes(proof?.entry);
    let named;
    try {
      named = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry)).position;
    } catch {
      throw new VerifyError("the entry is not JSON");
    }
    if (named !== proof?.position) {
      throw new VerifyError(`the entry names position ${named}, not ${proof?.position}`);
    }
  });
  if (note !== null && entry !== null) {
    checks.inclusion = await attempt(failures, "inclusion", async () => {
      const path = (proof.proof || []).map(base64ToBytes);
      const root = await rootFromInclusionProof(await leafHash(entry), proof.position, note.checkpoint.size, path);
      if (root === null) throw new VerifyError("the proof does not fit that position and size");
      if (!equal(root, note.checkpoint.root)) {
        throw new VerifyError("the proof does not lead to the checkpoint's root");
      }
    });
  }
  if (note !== null && cert !== null) {
    checks.signature = await attempt(failures, "signature", () =>
      verifyNoteSignature(note, cert, keyName ?? note.checkpoint.origin));
  }
  return {
    ok: failures.length === 0 && checks.entry && checks.inclusion && checks.signature,
    position: proof?.position,
    checkpoint: note && {
      origin: note.checkpoint.origin,
      size: Number(note.checkpoint.size),
      root: bytesToBase64(note.checkpoint.root),
      time: note.checkpoint.time,
    },
    certificate: cert && {
      sha256: cert.sha256,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
    },
    checks,
    failures,
  };
}

/** Fetch an entry's proof and the axis certificate from `base` (default: this origin) and
 * verify them; `init` is passed to `fetch` (headers, credentials). `checkpoint` asks for the
 * proof against the checkpoint of that size (default: the latest). Where the auditor holds
 * the certificate from elsewhere, pass it as `certificate` instead of trusting the server's. */
export async function fetchAndVerify(
  position, { base = "", init = {}, checkpoint, certificate, keyName } = {},
) {
  const get = async (path) => {
    const response = await fetch(`${base}${path}`, init);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
    return response;
  };
  const query = checkpoint === undefined ? "" : `?checkpoint=${checkpoint}`;
  const proof = await (await get(`/v1/audit/entries/${position}/proof${query}`)).json();
  const pem = certificate ?? (await (await get("/v1/audit/certificate")).text());
  return verifyEntryProof(proof, pem, { keyName });
}
