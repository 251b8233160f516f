// The livechatd chat widget: <script src="https://livechatd.example/chat/{bot}/widget.js" async></script>
// on any site adds a launcher bubble that opens the bot's chat page in an
// iframe (the chat's own origin: the site's styles and scripts cannot reach
// it). The launcher and the panel live in a closed shadow root whose host
// resets every inherited style, so the site's CSS does not change them.
//
// Options, as data- attributes of the script tag (each overrides the bot's
// own appearance; a value that is not valid is ignored):
//   data-title     the chat's title
//   data-color     the accent colour, #rgb or #rrggbb
//   data-position  right (default) or left
//   data-open      "true": the panel starts open
//
// While the panel is closed, the launcher counts the agent's and the bot's
// new messages (a badge); the chat tells the agent's platform what the
// user read only while the panel is open.
(function () {
  "use strict";
  var defaults = /*DEFAULTS*/{};
  var script = document.currentScript;
  if (!script || !script.src || !defaults.bot) return; // served as /chat/{bot}/widget.js only
  if (window["livechatd-widget:" + script.src]) return; // the same tag twice: one widget
  window["livechatd-widget:" + script.src] = true;

  var src = new URL(script.src);
  var origin = src.origin;
  var d = script.dataset || {};
  var colorRE = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
  var title = (d.title || "").trim();
  if (!title || title.length > defaults.max_title) title = defaults.title;
  var color = colorRE.test(d.color || "") ? d.color : defaults.color;
  var position = d.position === "left" || d.position === "right" ? d.position : defaults.position;

  function mount() {
    var host = document.createElement("livechatd-widget");
    // Inline and !important: no rule of the site can override these.
    host.setAttribute("style", "all: initial !important; position: fixed !important; z-index: 2147483647 !important; " +
      "bottom: 0 !important; " + position + ": 0 !important; width: 0 !important; height: 0 !important; display: block !important;");
    var root = host.attachShadow({ mode: "closed" });
    var side = position === "left" ? "left" : "right";
    var style = document.createElement("style");
    style.textContent =
      ":host { all: initial; }" +
      "* { box-sizing: border-box; }" +
      ".launcher { position: fixed; bottom: 20px; " + side + ": 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;" +
      " background: " + color + "; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); padding: 0;" +
      " display: flex; align-items: center; justify-content: center; font: 600 24px/1 system-ui, sans-serif; }" +
      ".launcher:focus-visible { outline: 3px solid #fff; outline-offset: -6px; }" +
      ".launcher svg { width: 28px; height: 28px; fill: currentColor; }" +
      ".badge { position: absolute; top: -4px; " + (side === "left" ? "right" : "left") + ": -4px; min-width: 22px; height: 22px;" +
      " padding: 0 6px; border-radius: 11px; background: #d93025; color: #fff; font: 700 12px/22px system-ui, sans-serif;" +
      " text-align: center; box-shadow: 0 0 0 2px #fff; }" +
      ".badge[hidden] { display: none; }" +
      ".panel { position: fixed; bottom: 88px; " + side + ": 20px; width: 370px; height: 560px;" +
      " max-width: calc(100vw - 40px); max-height: calc(100vh - 108px); border: 0; border-radius: 14px; overflow: hidden;" +
      " box-shadow: 0 10px 40px rgba(0,0,0,.28); background: #fff; display: none; }" +
      ".panel.open { display: block; }" +
      ".panel iframe { width: 100%; height: 100%; border: 0; display: block; }" +
      "@media (max-width: 480px) { .panel { bottom: 0; " + side + ": 0; width: 100vw; height: 100vh; max-width: none; max-height: none; border-radius: 0; } }";
    root.appendChild(style);

    var panel = document.createElement("div");
    panel.className = "panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", title);
    var frame = null;

    var launcher = document.createElement("button");
    launcher.className = "launcher";
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open the chat: " + title);
    launcher.setAttribute("aria-expanded", "false");
    launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z"/></svg>';

    var badge = document.createElement("span");
    badge.className = "badge";
    badge.hidden = true;
    badge.setAttribute("data-testid", "unread");
    launcher.appendChild(badge);
    function setUnread(n) {
      n = n > 0 ? Math.min(n, 99) : 0;
      badge.hidden = n === 0;
      badge.textContent = n ? String(n) + (n === 99 ? "+" : "") : "";
      launcher.setAttribute("aria-label", (panel.classList.contains("open") ? "Close the chat: " : "Open the chat: ") + title +
        (n ? " (" + n + " new)" : ""));
      host.setAttribute("data-unread", String(n));
    }

    function setOpen(open) {
      if (open && !frame) {
        // The chat loads when first opened: a closed widget costs the site nothing.
        frame = document.createElement("iframe");
        frame.title = title;
        frame.src = origin + "/chat/" + encodeURIComponent(defaults.bot) + "?embed=1&title=" +
          encodeURIComponent(title) + "&color=" + encodeURIComponent(color);
        frame.setAttribute("allow", "clipboard-write");
        panel.appendChild(frame);
      }
      panel.classList.toggle("open", open);
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      launcher.setAttribute("aria-label", (open ? "Close the chat: " : "Open the chat: ") + title);
      host.setAttribute("data-open", open ? "true" : "false");
      if (open) setUnread(0);
      // The chat counts unread messages and sends read receipts only while
      // it is on screen; a frame just created is open from the start.
      if (frame && frame.contentWindow) frame.contentWindow.postMessage({ livechatd: open ? "open" : "closed" }, origin);
    }
    launcher.addEventListener("click", function () { setOpen(!panel.classList.contains("open")); });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && panel.classList.contains("open")) setOpen(false);
    });
    window.addEventListener("message", function (ev) {
      if (ev.origin !== origin || !frame || ev.source !== frame.contentWindow) return;
      if (!ev.data) return;
      if (ev.data.livechatd === "close") setOpen(false);
      if (ev.data.livechatd === "unread" && !panel.classList.contains("open")) setUnread(ev.data.count);
    });

    root.appendChild(panel);
    root.appendChild(launcher);
    host.setAttribute("data-bot", defaults.bot);
    (document.body || document.documentElement).appendChild(host);
    setOpen(d.open === "true");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
