"use strict";
// Checks what the log claims, in the browser, with WebCrypto only: RFC 6962 leaf and
// node hashing, inclusion and consistency proofs (the verification algorithms of
// RFC 9162 sections 2.1.3.2 and 2.1.4.2), C2SP signed-note checkpoints and Rekor
// signed entry timestamps (ECDSA P-256/384/521 or Ed25519 log keys).
const Merkle = (() => {
  const enc = new TextEncoder();

  function b64decode(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hexdecode(text) {
    if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error("not hex: " + text.slice(0, 20));
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }
  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }
  const leafHash = (data) => sha256(concat(new Uint8Array([0]), data));
  const nodeHash = (left, right) => sha256(concat(new Uint8Array([1]), left, right));
  // indexes go beyond 2**31: halve with arithmetic, not bit operators
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);

  async function rootFromInclusion(index, size, leaf, proof) {
    if (!(index >= 0 && index < size)) throw new Error(`leaf index ${index} is outside the tree of size ${size}`);
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Error("the inclusion proof is too long");
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn); sn = half(sn);
    }
    if (sn !== 0) throw new Error("the inclusion proof is too short");
    return r;
  }

  async function verifyConsistency(size1, size2, proof, root1, root2) {
    if (size1 > size2) throw new Error(`tree size ${size2} is smaller than the older ${size1}`);
    if (size1 === size2) {
      if (proof.length) throw new Error("a proof between equal sizes must be empty");
      if (!equal(root1, root2)) throw new Error("two different roots for the same tree size");
      return;
    }
    if (size1 === 0) return; // every tree extends the empty one
    if (!proof.length) throw new Error("empty consistency proof");
    const path = Number.isInteger(Math.log2(size1)) ? [root1, ...proof] : proof.slice();
    let fn = size1 - 1, sn = size2 - 1;
    while (odd(fn)) { fn = half(fn); sn = half(sn); }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) throw new Error("the consistency proof is too long");
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn); sn = half(sn);
    }
    if (sn !== 0) throw new Error("the consistency proof is too short");
    if (!equal(fr, root1)) throw new Error("the proof does not lead to the older root");
    if (!equal(sr, root2)) throw new Error("the proof does not lead to the current root");
  }

  // DER ECDSA-Sig-Value -> the fixed-width r||s WebCrypto verifies
  function derToRaw(der, width) {
    let at = 0;
    const byte = () => { if (at >= der.length) throw new Error("truncated signature"); return der[at++]; };
    const len = () => { let n = byte(); if (n & 0x80) { let k = n & 0x7f; n = 0; while (k--) n = n * 256 + byte(); } return n; };
    if (byte() !== 0x30) throw new Error("signature is not a DER sequence");
    len();
    const part = () => {
      if (byte() !== 0x02) throw new Error("signature is not DER integers");
      const n = len();
      let v = der.slice(at, at + n); at += n;
      while (v.length > width && v[0] === 0) v = v.slice(1);
      if (v.length > width) throw new Error("signature integer too large");
      return concat(new Uint8Array(width - v.length), v);
    };
    return concat(part(), part());
  }
  const WIDTH = { "P-256": 32, "P-384": 48, "P-521": 66 };

  async function importKey(info) {
    const spki = b64decode(info.spki);
    if (info.alg === "ECDSA") {
      return crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: info.curve }, false, ["verify"]);
    }
    if (info.alg === "Ed25519") {
      try {
        return await crypto.subtle.importKey("spki", spki, { name: "Ed25519" }, false, ["verify"]);
      } catch (e) {
        const err = new Error("this browser's WebCrypto has no Ed25519");
        err.unsupported = true;
        throw err;
      }
    }
    const err = new Error(`log key type ${info.alg} is not supported here`);
    err.unsupported = true;
    throw err;
  }

  async function verifySignature(info, key, sig, message) {
    if (info.alg === "ECDSA") {
      return crypto.subtle.verify({ name: "ECDSA", hash: info.hash }, key, derToRaw(sig, WIDTH[info.curve]), message);
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, sig, message);
  }

  // a signed note: text, blank line, "— <name> <b64(key hash || signature)>" lines
  function parseNote(note) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
    const text = note.slice(0, cut + 1);
    const sigs = note.slice(cut + 2, -1).split("\n").map((line) => {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error("malformed signature line in the note");
      const blob = b64decode(m[2]);
      return { name: m[1], keyHash: blob.slice(0, 4), sig: blob.slice(4) };
    });
    const lines = text.split("\n");
    if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Error("malformed checkpoint");
    const root = b64decode(lines[2]);
    if (root.length !== 32) throw new Error("checkpoint root is not 32 bytes");
    return { text, sigs, origin: lines[0], size: Number(lines[1]), root };
  }

  async function verifyNote(note, info) {
    const parsed = parseNote(note);
    const want = hexdecode(info.logID).slice(0, 4);
    const key = await importKey(info);
    const mine = parsed.sigs.filter((s) => equal(s.keyHash, want));
    if (!mine.length) throw new Error("the checkpoint carries no signature by this log's key");
    for (const s of mine) {
      if (await verifySignature(info, key, s.sig, enc.encode(parsed.text))) return parsed;
    }
    throw new Error("the checkpoint signature does not verify with the log key");
  }

  async function verifySET(info, setB64, bodyB64, integratedTime, logID, logIndex) {
    const payload = `{"body":${JSON.stringify(bodyB64)},"integratedTime":${integratedTime},` +
      `"logID":${JSON.stringify(logID)},"logIndex":${logIndex}}`;
    const key = await importKey(info);
    if (!(await verifySignature(info, key, b64decode(setB64), enc.encode(payload)))) {
      throw new Error("the signed entry timestamp does not verify with the log key");
    }
  }

  function mark(el, state) {
    el.dataset.state = state;
    el.querySelector(".mark").textContent =
      { pass: "\u2714", fail: "\u2718", unsupported: "?", pending: "\u2026" }[state] || "\u00b7";
  }

  return { b64decode, hexdecode, hex, equal, leafHash, rootFromInclusion, verifyConsistency,
           parseNote, verifyNote, verifySET, mark };
})();
