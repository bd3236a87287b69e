// The entry page's proof check: fetch the entry's proof and the axis certificate from the
// console (the session's cookie goes with them), verify them here with audit-verify.js
// (WebCrypto), and show the checkpoint it was checked against and each check's result.
const panel = document.getElementById("proof");
const texts = JSON.parse(document.getElementById("proof-texts").textContent);
const status = document.getElementById("proof-status");

function show(state, text) {
  panel.dataset.state = state;
  status.textContent = text;
}

function fail(text) {
  const item = document.createElement("li");
  item.textContent = text;
  document.getElementById("proof-failures").append(item);
}

async function get(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
      if (problem.type && problem.type.endsWith("nothing_signed")) return { unsigned: detail };
    } catch {
      // not a problem document: the status says enough
    }
    throw new Error(`GET ${url}: ${detail}`);
  }
  return { response };
}

async function check() {
  if (!window.isSecureContext || !crypto.subtle) {
    show("insecure", texts.insecure);
    return;
  }
  show("checking", texts.checking);
  const { verifyEntryProof } = await import(panel.dataset.module);
  const proof = await get(panel.dataset.proof);
  if (proof.unsigned) {
    show("unsigned", texts.unsigned);
    return;
  }
  const certificate = await get(panel.dataset.certificate);
  const result = await verifyEntryProof(
    await proof.response.json(), await certificate.response.text(),
  );
  if (result.checkpoint) {
    document.getElementById("checkpoint-size").textContent = result.checkpoint.size;
    document.getElementById("checkpoint-time").textContent = result.checkpoint.time;
    document.getElementById("checkpoint-root").textContent = result.checkpoint.root;
    document.getElementById("proof-checkpoint").hidden = false;
  }
  if (result.certificate) {
    document.getElementById("certificate-sha256").textContent = result.certificate.sha256;
  }
  for (const [name, passed] of Object.entries(result.checks)) {
    const item = document.querySelector(`#proof-checks [data-check="${name}"]`);
    item.dataset.passed = passed;
    item.querySelector("span").textContent = passed ? texts.passed : texts.not_passed;
  }
  document.getElementById("proof-checks").hidden = false;
  result.failures.forEach(fail);
  show(result.ok ? "verified" : "failed", result.ok ? texts.verified : texts.failed);
}

check().catch((error) => {
  show("unavailable", texts.unavailable);
  fail(error.message);
});
