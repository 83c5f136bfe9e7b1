"""The partner login page served at `/login`: plain HTML, CSS and JS, no third-party script.

It asks the browser wallet (`window.ethereum`, EIP-1193) for an account, fetches the nonce and the
exact EIP-4361 message from `/api/wallet/nonce`, has the wallet `personal_sign` it, posts the
signature to `/api/wallet/login` (which sets an HttpOnly session cookie) and lists the partner's
API keys from `/api/wallet/me`. Everything is built with DOM methods (never innerHTML), and the
page is served with a Content-Security-Policy that allows only these same-origin files.
"""

from __future__ import annotations

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HashInsight · partner sign-in</title>
<link rel="stylesheet" href="/login/app.css">
<script src="/login/app.js" defer></script>
</head>
<body>
<main>
  <h1>HashInsight</h1>
  <p class="lead">Partners sign in with their Ethereum wallet (Sign-In with Ethereum, EIP-4361).
  Your wallet shows the exact message before you sign; nothing is sent on chain.</p>
  <section id="signin">
    <button id="connect" type="button">Sign in with wallet</button>
    <p id="status" role="status" aria-live="polite"></p>
    <pre id="message" hidden></pre>
  </section>
  <section id="account" hidden>
    <p>Signed in as <code id="address"></code>
       <span class="muted">until <span id="expires"></span></span></p>
    <h2>Your API keys</h2>
    <p id="no-keys" class="muted" hidden>No API keys are linked to this wallet yet.</p>
    <table>
      <thead><tr><th>Key</th><th>Name</th><th>Scopes</th><th>Tier</th><th>Expires</th>
      <th></th></tr></thead>
      <tbody id="keys"></tbody>
    </table>
    <button id="logout" type="button" class="secondary">Sign out</button>
  </section>
</main>
</body>
</html>
"""

CSS = """
:root { color-scheme: light dark; --accent: #f7931a; }
body { font-family: system-ui, sans-serif; margin: 0; line-height: 1.5; }
main { max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { color: var(--accent); margin-bottom: 0.2rem; }
.lead, .muted { color: #888; }
button { font: inherit; padding: 0.5rem 1rem; border-radius: 0.4rem; border: 0;
  background: var(--accent); color: #111; cursor: pointer; }
button.secondary { background: #555; color: #eee; margin-top: 1rem; }
button:disabled { opacity: 0.5; cursor: wait; }
pre { white-space: pre-wrap; background: rgba(127,127,127,0.12); padding: 0.8rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid rgba(127,127,127,0.3); }
.error { color: #d33; }
.ok { color: #2a2; }
code.secret { word-break: break-all; }
"""

JS = r"""
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  function show(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = kind || "";
  }

  function utf8Hex(text) {
    const bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function api(path, body) {
    const options = { method: body === undefined ? "GET" : "POST", credentials: "same-origin",
                      headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      const error = new Error(message || response.status + " " + response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function renderKeys(keys) {
    const body = $("keys");
    body.replaceChildren();
    $("no-keys").hidden = keys.length > 0;
    for (const key of keys) {
      const row = document.createElement("tr");
      row.dataset.keyId = key.key_id;
      cell(row, key.key_id);
      cell(row, key.name);
      cell(row, key.scopes.join(" "));
      cell(row, key.tier);
      cell(row, key.expires_at ? key.expires_at.slice(0, 16).replace("T", " ") : "never");
      const action = cell(row, "");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary reveal";
      button.textContent = "Reveal";
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const revealed = await api("/api/wallet/keys/" + encodeURIComponent(key.key_id)
                                     + "/reveal", {});
          const code = document.createElement("code");
          code.className = "secret";
          code.textContent = revealed.api_key;
          action.replaceChildren(code);
        } catch (error) {
          button.disabled = false;
          show("Could not reveal the key: " + error.message, "error");
        }
      });
      action.appendChild(button);
      body.appendChild(row);
    }
  }

  async function loadAccount(quiet) {
    try {
      const me = await api("/api/wallet/me");
      $("address").textContent = me.wallet_address;
      $("expires").textContent = me.expires_at.slice(0, 16).replace("T", " ") + " UTC";
      renderKeys(me.keys);
      $("account").hidden = false;
      $("signin").hidden = true;
      return true;
    } catch (error) {
      if (!quiet) show("Signed in, but the account could not be read: " + error.message, "error");
      return false;
    }
  }

  async function signIn() {
    const button = $("connect");
    if (!window.ethereum || typeof window.ethereum.request !== "function") {
      show("No browser wallet found. Install or enable an Ethereum wallet, then reload.", "error");
      return;
    }
    button.disabled = true;
    try {
      show("Asking your wallet for an account…");
      const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("the wallet shared no account");
      const address = accounts[0];
      show("Fetching a sign-in message…");
      const issued = await api("/api/wallet/nonce", { wallet_address: address });
      const message = $("message");
      message.textContent = issued.message;
      message.hidden = false;
      show("Please sign the message in your wallet.");
      const signature = await window.ethereum.request({
        method: "personal_sign", params: [utf8Hex(issued.message), address] });
      show("Checking the signature…");
      await api("/api/wallet/login",
                { wallet_address: address, signature: signature, nonce: issued.nonce });
      show("Signed in.", "ok");
      message.hidden = true;
      await loadAccount(false);
    } catch (error) {
      const text = error && error.code === 4001 ? "You declined the request in your wallet."
                                                 : (error && error.message) || String(error);
      show("Sign-in failed: " + text, "error");
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    try { await api("/api/wallet/logout", {}); } catch (e) { /* the session is gone anyway */ }
    $("account").hidden = true;
    $("signin").hidden = false;
    show("Signed out.");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("connect").addEventListener("click", signIn);
    $("logout").addEventListener("click", signOut);
    loadAccount(true);
  });
})();
"""
