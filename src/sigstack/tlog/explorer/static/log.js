"use strict";
// The log page: check the current checkpoint's signature, and that the current tree
// extends an older checkpoint (pasted, or remembered from this browser's last visit).
(async () => {
  document.getElementById("check-checkpoint").hidden = false;
  document.getElementById("consistency").hidden = false;
  const data = JSON.parse(document.getElementById("log-data").textContent);
  const cpMark = document.getElementById("check-checkpoint");
  const consMark = document.getElementById("check-consistency");
  const consText = document.getElementById("consistency-text");
  const area = document.getElementById("old-checkpoint");
  const storeKey = "sigstack-explorer:" + data.origin + ":" + data.key.logID;
  let current = null;
  try {
    current = await Merkle.verifyNote(data.checkpoint, data.key);
    Merkle.mark(cpMark, "pass");
  } catch (err) {
    Merkle.mark(cpMark, err.unsupported ? "unsupported" : "fail");
    cpMark.append(" \u2014 " + err.message);
  }

  async function check(oldNote) {
    Merkle.mark(consMark, "pending");
    consText.textContent = "Checking\u2026";
    try {
      if (!current) throw new Error("the current checkpoint did not verify");
      const old = await Merkle.verifyNote(oldNote, data.key);
      if (old.origin !== current.origin) throw new Error(`the older checkpoint is of another log (${old.origin})`);
      let hashes = [];
      if (old.size > 0 && old.size < current.size) {
        const r = await fetch(`/api/v1/log/proof?firstSize=${old.size}&lastSize=${current.size}`);
        if (!r.ok) throw new Error(`the log refused a consistency proof (HTTP ${r.status})`);
        hashes = (await r.json()).hashes.map(Merkle.hexdecode);
      }
      await Merkle.verifyConsistency(old.size, current.size, hashes, old.root, current.root);
      Merkle.mark(consMark, "pass");
      consText.textContent = `Consistent: the tree of size ${current.size} extends the checkpoint of size ${old.size}.`;
      return true;
    } catch (err) {
      Merkle.mark(consMark, err.unsupported ? "unsupported" : "fail");
      consText.textContent = "NOT consistent or not verifiable: " + err.message;
      return false;
    }
  }

  document.getElementById("consistency-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    check(area.value.replace(/\r\n/g, "\n").replace(/\n*$/, "\n"));
  });
  let remembered = null;
  try { remembered = localStorage.getItem(storeKey); } catch (e) { /* storage disabled */ }
  if (remembered) {
    area.value = remembered;
    consText.textContent = "Checking against the checkpoint this browser saw last time\u2026";
    const good = await check(remembered);
    if (!good) return; // keep the old one: the failure stays visible on the next visit
  }
  if (current) {
    try { localStorage.setItem(storeKey, data.checkpoint); } catch (e) { /* storage disabled */ }
  }
})();
