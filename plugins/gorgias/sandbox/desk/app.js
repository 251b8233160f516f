// The sandbox's agent desk: polls /sandbox/state every second and acts
// through /sandbox/tickets/{id}/{reply|note|macro|close|open}.
(function () {
  "use strict";

  var state = { version: -1, tickets: [], agents: [], macros: [] };
  var selected = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function display(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function selectedFromHash() {
    var m = /ticket[=-](\d+)/.exec(location.hash);
    return m ? Number(m[1]) : null;
  }

  function customerName(c) {
    if (!c) return "";
    return c.name || [c.firstname, c.lastname].filter(Boolean).join(" ") || c.email || ("Customer " + c.id);
  }

  function fmtTime(s) {
    if (!s) return "";
    var d = new Date(s);
    return isNaN(d) ? s : d.toLocaleString();
  }

  function renderList() {
    var list = $("ticket-list");
    list.textContent = "";
    var tickets = state.tickets.slice().sort(function (a, b) { return b.id - a.id; });
    $("no-tickets").hidden = tickets.length > 0;
    tickets.forEach(function (t) {
      var tags = (t.tags || []).map(function (tag) { return el("span", { class: "tag", text: tag.name }); });
      var li = el("li", { id: "ticket-" + t.id, "data-testid": "ticket-" + t.id, "data-ticket-id": String(t.id),
        "data-status": t.status, class: t.id === selected ? "selected" : "" }, [
        el("span", { class: "subject", "data-testid": "ticket-item-subject", text: t.subject || ("Ticket " + t.id) }),
        el("span", { class: "who", "data-testid": "ticket-item-customer",
          text: customerName(t.customer) + (t.customer && t.customer.email ? " <" + t.customer.email + ">" : "") }),
        el("span", { class: "meta" }, [
          el("span", { class: "status " + t.status, "data-testid": "ticket-item-status", text: t.status })
        ].concat(tags))
      ]);
      // Not "#ticket-<id>": that is the list item's id, the page would jump.
      li.addEventListener("click", function () { location.hash = "ticket=" + t.id; });
      list.appendChild(li);
    });
  }

  function fields(dl, pairs) {
    dl.textContent = "";
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") return;
      dl.appendChild(el("dt", { text: p[0] }));
      dl.appendChild(el("dd", { "data-key": p[0], text: display(p[1]) }));
    });
  }

  function renderTicket() {
    var t = null;
    state.tickets.forEach(function (x) { if (x.id === selected) t = x; });
    $("ticket-view").hidden = !t;
    $("placeholder").hidden = !!t;
    if (!t) return;
    $("ticket-view").setAttribute("data-ticket-id", String(t.id));
    $("ticket-subject").textContent = t.subject || ("Ticket " + t.id);
    var st = $("ticket-status");
    st.textContent = t.status;
    st.className = "status " + t.status;
    var tags = $("ticket-tags");
    tags.textContent = "";
    (t.tags || []).forEach(function (tag) { tags.appendChild(el("span", { class: "tag", text: tag.name })); });
    $("close-ticket").hidden = t.status === "closed";
    $("reopen-ticket").hidden = t.status !== "closed";

    var c = t.customer || {};
    $("customer-name").textContent = customerName(c);
    $("customer-email").textContent = c.email || "";
    fields($("customer-fields"), [["id", c.id], ["external_id", c.external_id], ["language", c.language], ["timezone", c.timezone], ["note", c.note]]);
    var data = c.data && typeof c.data === "object" ? c.data : {};
    fields($("customer-data"), Object.keys(data).sort().map(function (k) { return [k, data[k]]; }));
    var meta = t.meta && typeof t.meta === "object" ? t.meta : {};
    fields($("ticket-fields"), [["id", t.id], ["external_id", t.external_id], ["channel", t.channel], ["via", t.via],
      ["created", fmtTime(t.created_datetime)]].concat(Object.keys(meta).sort().map(function (k) { return ["meta." + k, meta[k]]; })));

    var list = $("messages");
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.textContent = "";
    (t.messages || []).forEach(function (m) {
      var note = m.channel === "internal-note" || !m.public;
      var kind = note ? "note" : (m.from_agent ? "agent" : "customer");
      var s = m.sender || {};
      var author = s.name || s.email || (m.from_agent ? "Agent" : "Customer");
      var head = el("div", { class: "head" }, [
        el("span", { class: "author", "data-testid": "message-author", text: author }),
        el("span", { text: " · " + (m.from_agent ? "agent" : "customer") + " · via " + m.via + " · " + fmtTime(m.created_datetime) }),
        note ? el("span", { class: "badge", "data-testid": "internal-note", text: "Internal note" }) : null
      ]);
      var text = m.body_text || (m.body_html || "").replace(/<[^>]*>/g, "");
      list.appendChild(el("li", { class: "message " + kind, "data-testid": "message", "data-message-id": String(m.id),
        "data-from-agent": String(!!m.from_agent), "data-public": String(!!m.public), "data-channel": m.channel,
        "data-kind": kind }, [head, el("div", { class: "text", "data-testid": "message-text", text: text })]));
    });
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderAgents() {
    var sel = $("agent");
    var current = sel.value;
    sel.textContent = "";
    state.agents.forEach(function (a) {
      sel.appendChild(el("option", { value: a.email, text: a.name + " <" + a.email + ">" }));
    });
    if (current) sel.value = current;
  }

  function render() {
    selected = selectedFromHash();
    renderList();
    renderTicket();
  }

  function refresh() {
    return fetch("/sandbox/state?since=" + state.version, { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        $("conn").textContent = "";
        if (s.tickets === undefined) return;
        var agentsChanged = JSON.stringify(s.agents) !== JSON.stringify(state.agents);
        state = s;
        if (agentsChanged) renderAgents();
        render();
      })
      .catch(function () { $("conn").textContent = "sandbox unreachable"; });
  }

  function showError(msg) {
    var e = $("error");
    e.textContent = msg || "";
    e.hidden = !msg;
  }

  function act(action, body) {
    if (selected === null) return Promise.resolve(false);
    body = body || {};
    body.agent = $("agent").value;
    return fetch("/sandbox/tickets/" + selected + "/" + action, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      if (r.ok) { showError(""); return refresh().then(function () { return true; }); }
      return r.json().then(function (e) { showError((e.error && e.error.msg) || ("HTTP " + r.status)); return false; });
    }).catch(function (e) { showError(String(e)); return false; });
  }

  function send(boxID, action) {
    var box = $(boxID);
    var text = box.value;
    if (!text.trim()) return;
    act(action, { text: text }).then(function (ok) { if (ok) box.value = ""; });
  }

  $("reply-send").addEventListener("click", function () { send("reply-text", "reply"); });
  $("note-send").addEventListener("click", function () { send("note-text", "note"); });
  $("reply-text").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send("reply-text", "reply");
  });
  $("macro-signoff").addEventListener("click", function () { act("macro", { name: "Sign off" }); });
  $("macro-signoff-close").addEventListener("click", function () { act("macro", { name: "Sign off and close" }); });
  $("close-ticket").addEventListener("click", function () { act("close"); });
  $("reopen-ticket").addEventListener("click", function () { act("open"); });
  window.addEventListener("hashchange", render);

  refresh();
  setInterval(refresh, 1000);
})();
