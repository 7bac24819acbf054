"use strict";
// The entry page: recompute the leaf from the body shown, fold the inclusion proof to a
// root, check the root is the one the log signed in its checkpoint, and check the SET.
(async () => {
  document.getElementById("checks").hidden = false;
  const data = JSON.parse(document.getElementById("entry-data").textContent);
  const detail = document.getElementById("verify-detail");
  const box = document.getElementById("verify");
  const inclusion = document.getElementById("check-inclusion");
  const checkpoint = document.getElementById("check-checkpoint");
  const set = document.getElementById("check-set");
  const notes = [];
  let ok = true;
  const fail = (el, err) => {
    Merkle.mark(el, err.unsupported ? "unsupported" : "fail");
    if (!err.unsupported) ok = false;
    notes.push(err.message);
  };
  if (!window.crypto || !crypto.subtle) {
    [inclusion, checkpoint, set].forEach((el) => Merkle.mark(el, "unsupported"));
    detail.textContent = "This browser offers no WebCrypto here (it needs https:// or localhost).";
    return;
  }
  const p = data.proof;
  let signed = null;
  try {
    signed = await Merkle.verifyNote(p.checkpoint, data.key);
    Merkle.mark(checkpoint, "pass");
  } catch (err) { fail(checkpoint, err); }
  try {
    const leaf = await Merkle.leafHash(Merkle.b64decode(data.body));
    const root = await Merkle.rootFromInclusion(p.logIndex, p.treeSize, leaf, p.hashes.map(Merkle.hexdecode));
    const want = signed ? signed.root : Merkle.hexdecode(p.rootHash);
    if (signed && signed.size !== p.treeSize) throw new Error("the proof is for another tree size than the checkpoint");
    if (!Merkle.equal(root, want)) {
      throw new Error(`the proof leads to root ${Merkle.hex(root)}, not the signed root ${Merkle.hex(want)}`);
    }
    if (!signed) throw new Error("the root is not covered by a valid checkpoint signature");
    Merkle.mark(inclusion, "pass");
  } catch (err) { fail(inclusion, err); }
  try {
    await Merkle.verifySET(data.key, data.set, data.body, data.integratedTime, data.logID, data.logIndex);
    Merkle.mark(set, "pass");
  } catch (err) { fail(set, err); }
  box.dataset.result = ok ? "pass" : "fail";
  detail.textContent = ok
    ? `Verified in your browser: entry ${p.logIndex} is in the tree of size ${p.treeSize} signed by log key ${data.key.logID.slice(0, 16)}\u2026 (compare it with the log key you trust).`
    : "Verification FAILED: " + notes.join("; ");
})();
