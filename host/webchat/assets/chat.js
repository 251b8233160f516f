// The livechatd webchat page: posts the user's events to the events API and
// renders the user's stream (Server-Sent Events with Last-Event-ID replay).
//
// What the user sends goes through an outbox kept in localStorage: each
// event has its request_id from the moment it is written, and is sent again
// with the same id until livechatd answers, so a message written offline is
// sent once back online and a retry never shows twice (livechatd answers a
// repeated request_id with the first answer and keeps it once in the
// stream, where the page matches it by its request_id).
(function () {
  "use strict";
  const body = document.body;
  const bot = body.dataset.bot;
  const store = "livechatd:" + bot;
  const log = document.getElementById("chat-log");
  const status = document.getElementById("chat-status");
  const agentBanner = document.getElementById("agent-banner");
  const connectingBanner = document.getElementById("connecting-banner");
  const offlineBanner = document.getElementById("offline-banner");
  const typingBox = document.getElementById("typing");
  const input = document.getElementById("chat-input");
  const seen = new Set(); // stream ids already shown: a replay shows nothing twice
  const START = "LIVECHAT_SESSION_START", END = "LIVECHAT_SESSION_END";
  // The user's typing: at most one event per TYPING_EVERY ms while typing,
  // each saying TYPING_FOR ms; a stop (duration 0) when they stop.
  const TYPING_EVERY = 3000, TYPING_FOR = 5000;
  let me = null;
  let lastSeq = "";
  let endedShown = false; // the current session's end is marked already
  let lastMarker = null;

  if (body.dataset.color) document.documentElement.style.setProperty("--accent", body.dataset.color);

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

  function newID() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function eventsURL() { return "/v1/bots/" + encodeURIComponent(bot) + "/events"; }

  // ---- the outbox ----------------------------------------------------

  const outboxKey = () => store + ":outbox:" + (me ? me.user_id : "");
  let outbox = [];
  let flushing = false;
  let retryTimer = null;
  let retryDelay = 1000;

  function saveOutbox() { localStorage.setItem(outboxKey(), JSON.stringify(outbox)); }
  function loadOutbox() {
    try { outbox = JSON.parse(localStorage.getItem(outboxKey()) || "[]"); } catch (e) { outbox = []; }
  }

  // send queues an event and sends what is queued.
  function send(payload) {
    const metadata = {};
    const p = profile();
    for (const k of ["firstname", "lastname", "email"]) if (p[k]) metadata[k] = p[k];
    const item = { request_id: newID(), metadata: metadata, payload: payload };
    outbox.push(item);
    saveOutbox();
    showPending(item);
    flush();
  }

  function noteText() { return body.classList.contains("offline") ? "not sent yet: waiting for the network" : "sending…"; }
  function setOffline(off) {
    offlineBanner.hidden = !off;
    body.classList.toggle("offline", off);
    for (const n of log.querySelectorAll('li[data-testid="pending"] .note')) n.textContent = noteText();
  }

  function retryLater(ms) {
    if (retryTimer) return;
    retryTimer = setTimeout(() => { retryTimer = null; flush(); }, ms || retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  async function flush() {
    if (flushing || !me) return;
    flushing = true;
    try {
      while (outbox.length) {
        const item = outbox[0];
        let res;
        try {
          res = await fetch(eventsURL(), {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-Livechat-User-Token": me.token },
            body: JSON.stringify({ request_id: item.request_id, client: { user_id: me.user_id, channel_id: "webchat" },
              metadata: item.metadata, payload: item.payload }),
          });
        } catch (e) {
          setOffline(true); // kept: sent again when back online
          retryLater();
          return;
        }
        setOffline(false);
        if (res.ok) {
          outbox.shift();
          saveOutbox();
          retryDelay = 1000;
          status.textContent = "";
          continue;
        }
        const err = await res.json().catch(() => ({}));
        const msg = (err.error && err.error.message) || ("error " + res.status);
        if (res.status === 429 || res.status >= 500) {
          status.textContent = msg + " — trying again…";
          const after = parseInt(res.headers.get("Retry-After") || "", 10);
          retryLater(after > 0 ? after * 1000 : 0);
          return;
        }
        // Refused for good: say why, and drop it.
        outbox.shift();
        saveOutbox();
        status.textContent = msg;
        const li = pendingOf(item.request_id);
        if (li) li.remove();
      }
    } finally {
      flushing = false;
    }
  }

  window.addEventListener("online", () => { if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; } flush(); });
  window.addEventListener("offline", () => setOffline(true));

  function pendingOf(id) {
    for (const li of log.querySelectorAll('li[data-testid="pending"]')) if (li.dataset.requestId === id) return li;
    return null;
  }

  // showPending shows what the user sent and livechatd has not shown back
  // yet; the stream's entry with the same request_id replaces it.
  function showPending(item) {
    const li = renderMessage({ author: { type: "user" }, payload: item.payload });
    if (!li) return;
    li.dataset.testid = "pending";
    li.dataset.requestId = item.request_id;
    li.classList.add("pending");
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = noteText();
    li.appendChild(note);
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  // ---- the user's typing ---------------------------------------------

  // sendEphemeral sends what is never kept (typing, read receipts): best
  // effort, not retried, never shown as an error.
  function sendEphemeral(payload) {
    if (!me) return;
    fetch(eventsURL(), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Livechat-User-Token": me.token },
      body: JSON.stringify({ client: { user_id: me.user_id, channel_id: "webchat" }, payload: payload }),
    }).catch(() => {});
  }
  let typingSentAt = 0;
  function sendTyping(ms) { sendEphemeral({ content_type: "typing", content: { duration: ms } }); }
  function typed() {
    const now = Date.now();
    if (input.value.trim() === "") { stopTyping(); return; }
    if (now - typingSentAt >= TYPING_EVERY) { typingSentAt = now; sendTyping(TYPING_FOR); }
  }
  function stopTyping() {
    if (typingSentAt === 0) return;
    typingSentAt = 0;
    sendTyping(0);
  }
  input.addEventListener("input", typed);
  input.addEventListener("blur", stopTyping);

  // ---- read receipts and unread messages ---------------------------------

  // The user has seen a message when the page is visible and, inside the
  // widget, its panel is open. Then a read event tells the agent's platform
  // (at most one every READ_EVERY ms, the last one never dropped); while
  // the panel is closed, the widget's launcher counts what came.
  const READ_EVERY = 3000;
  let panelOpen = true; // the widget loads the chat when it opens, then says when it closes
  let unreadAgent = 0, unread = 0, readSentAt = 0, readTimer = null;
  function onScreen() { return panelOpen && document.visibilityState === "visible"; }
  function arrived(authorType) {
    if (authorType === "agent") unreadAgent++;
    if (onScreen()) { readSoon(); return; }
    unread++;
    notifyParent("unread", unread);
  }
  function readSoon() {
    if (readTimer || unreadAgent === 0 || !onScreen()) return;
    readTimer = setTimeout(() => {
      readTimer = null;
      if (unreadAgent === 0 || !onScreen()) return;
      unreadAgent = 0;
      readSentAt = Date.now();
      sendEphemeral({ content_type: "read", content: {} });
    }, Math.max(0, readSentAt + READ_EVERY - Date.now()));
  }
  function seenAll() {
    if (unread) { unread = 0; notifyParent("unread", 0); }
    readSoon();
  }
  document.addEventListener("visibilitychange", () => { if (onScreen()) seenAll(); });
  window.addEventListener("message", (ev) => {
    if (!body.dataset.embed || ev.source !== window.parent || !ev.data) return;
    if (ev.data.livechatd === "open" || ev.data.livechatd === "closed") {
      panelOpen = ev.data.livechatd === "open";
      if (panelOpen) seenAll();
    }
  });

  // ---- buttons ---------------------------------------------------------

  // handOff sends a button's payload; asking for a human first asks for
  // the user's details when there are none, so that the agent knows whom
  // they talk to. Saving the form (even empty) sends the request.
  let pending = null;
  function handOff(payload, box, btn) {
    if (box && box.dataset.used) return; // a button is used once
    const p = profile();
    if (payload.content.payload === START && !p.firstname && !p.lastname && !p.email) {
      pending = { payload: payload, box: box, btn: btn };
      const details = document.getElementById("profile");
      details.open = true;
      document.getElementById("profile-ask").hidden = false;
      document.getElementById("profile-firstname").focus();
      return;
    }
    use(box, btn);
    send(payload);
  }

  // use disables a question's buttons once one of them is used.
  function use(box, btn) {
    if (!box) return;
    box.dataset.used = "1";
    for (const b of box.querySelectorAll("button")) b.disabled = true;
    if (btn) btn.classList.add("chosen");
  }

  // usedBy marks the latest question still open that offered payload as
  // used: on a replay the buttons the user used are disabled again.
  function usedBy(payload) {
    const boxes = log.querySelectorAll(".buttons:not([data-used])");
    for (let i = boxes.length - 1; i >= 0; i--) {
      for (const b of boxes[i].querySelectorAll("button")) {
        if (b.dataset.payload === payload) { use(boxes[i], b); return; }
      }
    }
  }

  // endButtons disables every "Quit livechat": the session is over.
  function endButtons() {
    for (const b of log.querySelectorAll("button[data-payload]")) {
      if (b.dataset.payload === END) b.disabled = true;
    }
  }

  // ---- rendering -------------------------------------------------------

  function text(el, s) { el.appendChild(document.createTextNode(s)); }

  function safeURL(u) {
    if (typeof u !== "string" || u.trim() === "") return "";
    try {
      const url = new URL(u, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
    } catch (e) { return ""; }
  }

  function humanSize(n) {
    if (!(n > 0)) return "";
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return Math.round(n / 1024) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function timeOf(at) {
    if (!at) return null;
    const d = new Date(at);
    if (isNaN(d)) return null;
    const t = document.createElement("time");
    t.dateTime = d.toISOString();
    t.dataset.testid = "time";
    t.title = d.toLocaleString();
    t.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return t;
  }

  function question(li, c) {
    text(li, c.title || "");
    const box = document.createElement("div"); box.className = "buttons";
    for (const b of c.buttons || []) {
      const bc = b.content || b;
      const btn = document.createElement("button");
      btn.type = "button"; btn.dataset.testid = "button"; btn.dataset.payload = bc.payload || "";
      text(btn, bc.title || bc.payload || "");
      btn.addEventListener("click", () => handOff({ content_type: "payload", content: { payload: bc.payload, title: bc.title } }, box, btn));
      box.appendChild(btn);
    }
    li.appendChild(box);
  }

  function renderMessage(entry) {
    const author = entry.author || { type: "bot" };
    const p = entry.payload || {};
    const c = p.content || {};
    if (p.content_type === "typing" || p.content_type === "wait") return null;
    if (p.content_type === "livechat") { livechatEvent(c, author); return null; }
    const li = document.createElement("li");
    li.className = "msg " + author.type;
    li.dataset.testid = "message";
    li.dataset.author = author.type;
    if (author.type === "agent") {
      const who = document.createElement("span");
      who.className = "who";
      const avatar = safeURL(author.avatar_url || "");
      if (avatar) {
        const img = document.createElement("img");
        img.className = "avatar"; img.src = avatar; img.alt = ""; img.dataset.testid = "agent-avatar";
        who.appendChild(img);
      }
      const name = document.createElement("span");
      name.dataset.testid = "agent-name";
      text(name, author.name || "Agent");
      who.appendChild(name);
      li.appendChild(who);
      showAgent(author.name, avatar);
      hideTyping();
    }
    if (author.type === "bot") showAgent(null);
    switch (p.content_type) {
      case "text": text(li, c.text || ""); break;
      case "payload": text(li, c.title || (c.payload === START ? "Talk to a human" :
        c.payload === END ? "Quit livechat" : (c.payload || ""))); break;
      case "image": {
        const url = safeURL(c.url || "");
        const a = document.createElement("a"); a.href = url; a.target = "_blank"; a.rel = "noopener";
        const img = document.createElement("img"); img.src = url; img.alt = c.name || c.title || "image";
        img.dataset.testid = "image";
        a.appendChild(img); li.appendChild(a); break;
      }
      case "file": {
        const a = document.createElement("a"); a.href = safeURL(c.url || ""); a.target = "_blank"; a.rel = "noopener";
        a.className = "file"; a.dataset.testid = "file-link"; a.setAttribute("download", c.name || "");
        text(a, c.name || c.title || c.text || "file");
        li.appendChild(a);
        const size = humanSize(c.size);
        if (size) { const s = document.createElement("span"); s.className = "size"; text(s, " " + size); li.appendChild(s); }
        break;
      }
      case "url": case "audio": case "video": {
        const a = document.createElement("a"); a.href = safeURL(c.url || ""); a.target = "_blank"; a.rel = "noopener";
        text(a, c.title || c.text || c.url || ""); li.appendChild(a); break;
      }
      case "question": question(li, c); break;
      case "button": question(li, { buttons: [{ content: c }] }); break;
      default: text(li, c.text || c.title || JSON.stringify(c));
    }
    const t = timeOf(entry.at);
    if (t) li.appendChild(t);
    return li;
  }

  function showAgent(name, avatar) {
    connectingBanner.hidden = true;
    agentBanner.hidden = !name;
    if (name) document.getElementById("agent-name").textContent = name;
    const img = document.getElementById("agent-avatar");
    if (avatar) { img.src = avatar; img.hidden = false; } else if (!name) { img.hidden = true; }
  }

  function minutes(s) {
    const m = Math.max(1, Math.round(s / 60));
    return m === 1 ? "about a minute" : "about " + m + " minutes";
  }

  // livechatEvent shows a structured livechat event: the words come as a
  // text message beside it; the event sets the banners and the markers.
  function livechatEvent(c, author) {
    switch (c.event) {
      case "agent_joined":
        endedShown = false;
        showAgent(author.name || "an agent", safeURL(author.avatar_url || ""));
        break;
      case "waiting": {
        endedShown = false;
        agentBanner.hidden = true;
        connectingBanner.hidden = false;
        const parts = [];
        if (c.position > 0) parts.push("You are number " + c.position + " in the queue.");
        if (c.expected_wait > 0) parts.push("Expected wait: " + minutes(c.expected_wait) + ".");
        document.getElementById("waiting-info").textContent = parts.join(" ");
        break;
      }
      case "session_ended": ended(c.reason); break;
    }
  }

  const endTexts = {
    agent: "The agent has left the conversation",
    user: "You ended the conversation",
    expired: "The conversation ended after a while without messages",
    max_wait: "No agent could answer in time",
    admin: "The conversation was closed",
    failed: "The conversation with the agent was interrupted",
    closed_hours: "We are closed right now",
  };

  // ended marks the end of the session once, however it is told (the
  // session_ended event, the state of the user's END, or both).
  function ended(reason) {
    showAgent(null);
    hideTyping();
    endButtons();
    document.getElementById("waiting-info").textContent = "";
    if (endedShown) {
      // The user's END comes as a state and as session_ended: one marker,
      // with the reason when one of them gives it.
      if (lastMarker && !lastMarker.dataset.reason && reason) markEnd(lastMarker, reason);
      return;
    }
    endedShown = true;
    const li = document.createElement("li");
    li.className = "marker ended";
    li.dataset.testid = "ended-marker";
    markEnd(li, reason);
    lastMarker = li;
    return li;
  }

  function markEnd(li, reason) {
    li.dataset.reason = reason || "";
    li.textContent = (endTexts[reason] || "The conversation has ended") + " — you are back with the bot";
  }

  function renderState(entry) {
    if (entry.state === "starting") {
      endedShown = false;
      connectingBanner.hidden = false; agentBanner.hidden = true;
      document.getElementById("waiting-info").textContent = "";
    }
    if (entry.state === "ended" || entry.state === "expired" || entry.state === "failed") {
      return ended({ ended: "", expired: "expired", failed: "failed" }[entry.state]) || null;
    }
    return null;
  }

  // render shows one entry of the stream, once.
  function render(id, entry) {
    if (id) {
      if (seen.has(id)) return;
      seen.add(id);
      lastSeq = id;
    }
    let el;
    if (entry.type === "state") el = renderState(entry);
    else if (entry.payload && entry.payload.content_type === "livechat") {
      const c = entry.payload.content || {};
      el = c.event === "session_ended" ? ended(c.reason) : (livechatEvent(c, entry.author || {}), null);
    } else el = renderMessage(entry);
    if (entry.request_id) {
      const p = pendingOf(entry.request_id);
      if (p) p.remove();
    }
    const pl = entry.payload || {};
    if (entry.author && entry.author.type === "user" && pl.content_type === "payload" && pl.content) usedBy(pl.content.payload);
    if (!el) return;
    if (id && entry.author && (entry.author.type === "agent" || entry.author.type === "bot") &&
        el.dataset.testid === "message") arrived(entry.author.type);
    el.dataset.seq = id;
    // What is still being sent stays last.
    log.insertBefore(el, log.querySelector('li[data-testid="pending"]'));
    log.scrollTop = log.scrollHeight;
  }

  // ---- the agent's typing ----------------------------------------------

  let typingTimer = null;
  function hideTyping() {
    typingBox.hidden = true;
    if (typingTimer) { clearTimeout(typingTimer); typingTimer = null; }
  }
  function showTyping(t) {
    hideTyping();
    if (!(t.duration > 0)) return;
    const a = t.author || {};
    document.getElementById("typing-who").textContent = a.name || "The agent";
    typingBox.hidden = false;
    log.scrollTop = log.scrollHeight;
    typingTimer = setTimeout(hideTyping, t.duration);
  }

  // ---- the stream --------------------------------------------------------

  let es = null;
  function listen() {
    let url = "/v1/bots/" + encodeURIComponent(bot) + "/users/" + encodeURIComponent(me.user_id) +
      "/stream?token=" + encodeURIComponent(me.token);
    if (lastSeq) url += "&last_event_id=" + encodeURIComponent(lastSeq);
    es = new EventSource(url); // reconnects by itself, sending Last-Event-ID
    es.addEventListener("entry", (ev) => {
      try { render(ev.lastEventId, JSON.parse(ev.data)); } catch (e) { console.error(e); }
    });
    es.addEventListener("typing", (ev) => {
      try { showTyping(JSON.parse(ev.data)); } catch (e) { console.error(e); }
    });
    es.onopen = () => {
      if (status.textContent === "Reconnecting…") status.textContent = "";
      setOffline(false);
      flush(); // back: send what waited
    };
    es.onerror = () => {
      status.textContent = "Reconnecting…";
      // A refused stream (429: too many tabs open; 503: the server is
      // full) is not retried by EventSource itself.
      if (es.readyState === EventSource.CLOSED) setTimeout(listen, 5000);
    };
  }

  // ---- the composer --------------------------------------------------------

  document.getElementById("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    if (!value || !me) return;
    input.value = "";
    stopTyping();
    send({ content_type: "text", content: { text: value } });
  });

  const attach = document.getElementById("attach-input");
  if (attach) {
    attach.addEventListener("change", async () => {
      const file = attach.files && attach.files[0];
      attach.value = "";
      if (!file || !me) return;
      const maxBytes = parseInt(body.dataset.uploadMax || "0", 10);
      if (maxBytes > 0 && file.size > maxBytes) {
        status.textContent = "This file is larger than " + humanSize(maxBytes) + ".";
        return;
      }
      status.textContent = "Uploading " + file.name + "…";
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        const res = await fetch("/v1/bots/" + encodeURIComponent(bot) + "/users/" + encodeURIComponent(me.user_id) + "/uploads", {
          method: "POST", headers: { "X-Livechat-User-Token": me.token }, body: form,
        });
        const out = await res.json().catch(() => ({}));
        if (!res.ok) {
          status.textContent = (out.error && out.error.message) || ("upload failed: " + res.status);
          return;
        }
        status.textContent = "";
        const kind = (out.mime || "").startsWith("image/") ? "image" : "file";
        send({ content_type: kind, content: { url: out.url, name: out.name, size: out.size, mime: out.mime } });
      } catch (e) {
        setOffline(true);
        status.textContent = "Could not upload " + file.name + ": you seem to be offline.";
      }
    });
  }

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
    if (pending && me) {
      use(pending.box, pending.btn);
      send(pending.payload);
      pending = null;
    }
  });

  // ---- inside the widget ---------------------------------------------------

  // The widget's script on the site listens for these (it checks that they
  // come from this page's origin): "close" the panel; "unread" with the
  // count of messages that came while it was closed.
  function notifyParent(what, count) {
    if (!body.dataset.embed || window.parent === window) return;
    window.parent.postMessage({ livechatd: what, count: count || 0 }, "*");
  }
  const close = document.getElementById("widget-close");
  if (close) close.addEventListener("click", () => notifyParent("close"));
  if (body.dataset.embed) document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") notifyParent("close"); });

  identity().then((id) => {
    me = id;
    body.dataset.user = id.user_id;
    loadOutbox();
    for (const item of outbox) showPending(item);
    listen();
    flush();
  }).catch((e) => { status.textContent = e.message; });
})();
