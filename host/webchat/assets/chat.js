// The livechatd webchat page: posts the user's events to the events API and
// renders the user's stream (Server-Sent Events with Last-Event-ID replay).
(function () {
  "use strict";
  const bot = document.body.dataset.bot;
  const store = "livechatd:" + bot;
  const log = document.getElementById("chat-log");
  const status = document.getElementById("chat-status");
  const agentBanner = document.getElementById("agent-banner");
  const connectingBanner = document.getElementById("connecting-banner");
  const seen = new Set(); // stream ids already shown: a replay shows nothing twice
  let me = null;

  function profile() {
    try { return JSON.parse(localStorage.getItem(store + ":profile") || "{}"); } catch (e) { return {}; }
  }

  async function identity() {
    try {
      const saved = JSON.parse(localStorage.getItem(store) || "null");
      if (saved && saved.user_id && saved.token) return saved;
    } catch (e) { /* a new identity below */ }
    const res = await fetch("/chat/" + encodeURIComponent(bot) + "/identity", { method: "POST" });
    if (!res.ok) throw new Error("identity: " + res.status);
    const id = await res.json();
    localStorage.setItem(store, JSON.stringify(id));
    return id;
  }

  async function send(payload) {
    status.textContent = "";
    const metadata = {};
    const p = profile();
    for (const k of ["firstname", "lastname", "email"]) if (p[k]) metadata[k] = p[k];
    const body = {
      request_id: (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()),
      client: { user_id: me.user_id, channel_id: "webchat" },
      metadata: metadata,
      payload: payload,
    };
    try {
      const res = await fetch("/v1/bots/" + encodeURIComponent(bot) + "/events", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Livechat-User-Token": me.token },
        body: JSON.stringify(body),
      });
      if (!res.ok) {
        const err = await res.json().catch(() => ({}));
        status.textContent = (err.error && err.error.message) || ("error " + res.status);
      }
    } catch (e) {
      status.textContent = "Could not send: " + e.message;
    }
  }

  // handOff sends a button's payload; asking for a human first asks for
  // the user's details when there are none, so that the agent knows whom
  // they talk to. Saving the form (even empty) sends the request.
  let pending = null;
  function handOff(payload) {
    const p = profile();
    if (payload.content.payload === "LIVECHAT_SESSION_START" && !p.firstname && !p.lastname && !p.email) {
      pending = payload;
      const details = document.getElementById("profile");
      details.open = true;
      document.getElementById("profile-ask").hidden = false;
      document.getElementById("profile-firstname").focus();
      return;
    }
    send(payload);
  }

  function text(el, s) { el.appendChild(document.createTextNode(s)); }

  function renderMessage(entry) {
    const author = entry.author || { type: "bot" };
    const p = entry.payload || {};
    const c = p.content || {};
    const li = document.createElement("li");
    li.className = "msg " + author.type;
    li.dataset.testid = "message";
    li.dataset.author = author.type;
    if (author.type === "agent") {
      const who = document.createElement("span");
      who.className = "who";
      who.dataset.testid = "agent-name";
      text(who, author.name || "Agent");
      li.appendChild(who);
      showAgent(author.name);
    }
    if (author.type === "bot") showAgent(null);
    switch (p.content_type) {
      case "text": text(li, c.text || ""); break;
      case "payload": text(li, c.title || (c.payload === "LIVECHAT_SESSION_START" ? "Talk to a human" :
        c.payload === "LIVECHAT_SESSION_END" ? "Quit livechat" : (c.payload || ""))); break;
      case "image": { const img = document.createElement("img"); img.src = c.url; img.alt = c.title || "image"; li.appendChild(img); break; }
      case "url": case "file": case "audio": case "video": {
        const a = document.createElement("a"); a.href = c.url; a.target = "_blank"; a.rel = "noopener";
        text(a, c.title || c.text || c.url || ""); li.appendChild(a); break;
      }
      case "question": {
        text(li, c.title || "");
        const box = document.createElement("div"); box.className = "buttons";
        for (const b of c.buttons || []) {
          const bc = b.content || b;
          const btn = document.createElement("button");
          btn.type = "button"; btn.dataset.testid = "button"; btn.dataset.payload = bc.payload || "";
          text(btn, bc.title || bc.payload || "");
          btn.addEventListener("click", () => handOff({ content_type: "payload", content: { payload: bc.payload, title: bc.title } }));
          box.appendChild(btn);
        }
        li.appendChild(box);
        break;
      }
      case "button": {
        const btn = document.createElement("button");
        btn.type = "button"; btn.dataset.testid = "button";
        text(btn, c.title || c.payload);
        btn.addEventListener("click", () => handOff({ content_type: "payload", content: { payload: c.payload } }));
        li.appendChild(btn);
        break;
      }
      case "typing": case "wait": return null;
      default: text(li, c.text || c.title || JSON.stringify(c));
    }
    return li;
  }

  function showAgent(name) {
    connectingBanner.hidden = true;
    agentBanner.hidden = !name;
    if (name) document.getElementById("agent-name").textContent = name;
  }

  function renderState(entry) {
    if (entry.state === "starting") { connectingBanner.hidden = false; agentBanner.hidden = true; }
    if (entry.state === "ended" || entry.state === "expired" || entry.state === "failed") showAgent(null);
    return null;
  }

  function render(id, entry) {
    if (seen.has(id)) return;
    seen.add(id);
    const el = entry.type === "state" ? renderState(entry) : renderMessage(entry);
    if (!el) return;
    el.dataset.seq = id;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
  }

  function listen() {
    const url = "/v1/bots/" + encodeURIComponent(bot) + "/users/" + encodeURIComponent(me.user_id) +
      "/stream?token=" + encodeURIComponent(me.token);
    const es = new EventSource(url); // reconnects by itself, sending Last-Event-ID
    es.addEventListener("entry", (ev) => {
      try { render(ev.lastEventId, JSON.parse(ev.data)); } catch (e) { console.error(e); }
    });
    es.onopen = () => { status.textContent = ""; };
    es.onerror = () => {
      status.textContent = "Reconnecting…";
      // A refused stream (429: too many tabs open; 503: the server is
      // full) is not retried by EventSource itself.
      if (es.readyState === EventSource.CLOSED) setTimeout(listen, 5000);
    };
  }

  document.getElementById("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = document.getElementById("chat-input");
    const value = input.value.trim();
    if (!value || !me) return;
    input.value = "";
    send({ content_type: "text", content: { text: value } });
  });

  const pf = document.getElementById("profile-form");
  const saved = profile();
  document.getElementById("profile-firstname").value = saved.firstname || "";
  document.getElementById("profile-lastname").value = saved.lastname || "";
  document.getElementById("profile-email").value = saved.email || "";
  pf.addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem(store + ":profile", JSON.stringify({
      firstname: document.getElementById("profile-firstname").value.trim(),
      lastname: document.getElementById("profile-lastname").value.trim(),
      email: document.getElementById("profile-email").value.trim(),
    }));
    document.getElementById("profile").open = false;
    document.getElementById("profile-ask").hidden = true;
    if (pending && me) { send(pending); pending = null; }
  });

  identity().then((id) => {
    me = id;
    document.body.dataset.user = id.user_id;
    listen();
  }).catch((e) => { status.textContent = e.message; });
})();
