// Chronicle dashboard: progressive enhancement only; every page works without this file.
// Loaded from the dashboard's own origin (the Content-Security-Policy allows nothing else).
"use strict";

// Times arrive in UTC (<time datetime>); show them in the browser's zone, UTC on hover.
function localTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d.getTime())) {
      t.textContent = d.toLocaleString();
      t.title = t.getAttribute("datetime") + " (UTC)";
    }
  });
}

function cell(row, child) {
  var td = document.createElement("td");
  if (typeof child === "string") { td.textContent = child; } else { td.appendChild(child); }
  row.appendChild(td);
  return td;
}

function link(href, text) {
  var a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function actorLabel(actor) {
  if (!actor) { return "system"; }
  return actor.id || actor.email || "system";
}

// The same shape as the server's entry rows (pages/mod.rs). Text goes in through
// textContent, so entity data is never parsed as markup.
function entryRow(e) {
  var tr = document.createElement("tr");
  tr.dataset.seq = e.seq;
  tr.className = "fresh";
  cell(tr, link("/entries/" + encodeURIComponent(e.id), String(e.seq)));
  var time = document.createElement("time");
  time.setAttribute("datetime", e.timestamp);
  time.textContent = e.timestamp;
  cell(tr, time);
  cell(tr, actorLabel(e.actor));
  var op = document.createElement("span");
  op.className = "op op-" + e.operation;
  op.textContent = e.operation;
  cell(tr, op);
  if (e.entity_type && e.entity_id) {
    cell(tr, link("/entities/" + encodeURIComponent(e.entity_type) + "/" + encodeURIComponent(e.entity_id),
      e.entity_type + "/" + e.entity_id));
  } else {
    cell(tr, e.entity_type || "\u2014");
  }
  cell(tr, e.summary || e.reason || "");
  localTimes(tr);
  return tr;
}

function liveFeed(table) {
  var body = table.tBodies[0];
  var status = document.getElementById("live-status");
  var pause = document.getElementById("pause");
  var paused = false;
  var held = [];
  function say(text) { if (status) { status.textContent = text; } }
  function show(e) {
    body.insertBefore(entryRow(e), body.firstChild);
    var empty = document.querySelector("p.empty");
    if (empty) { empty.remove(); }
  }
  if (pause) {
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", paused ? "true" : "false");
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) { held.forEach(show); held = []; say("Live"); }
      else { say("Paused"); }
    });
  }
  var source = new EventSource(table.dataset.stream);
  source.addEventListener("open", function () { say(paused ? "Paused" : "Live"); });
  source.addEventListener("error", function () { say("Reconnecting…"); });
  source.addEventListener("audit", function (ev) {
    var e = JSON.parse(ev.data);
    if (paused) { held.push(e); say("Paused (" + held.length + " new)"); } else { show(e); }
  });
}

// A page that shows something changing (a running rollback) reloads its live part when the
// stream says something happened to it.
function liveRegion(region) {
  var source = new EventSource(region.dataset.follow);
  source.addEventListener("audit", function () {
    fetch(window.location.pathname + "?fragment=1", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(region.id);
        if (fresh) { region.replaceChildren.apply(region, Array.from(fresh.childNodes)); localTimes(region); }
      });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  localTimes(document);
  var feed = document.querySelector("table[data-stream]");
  if (feed && window.EventSource) { liveFeed(feed); }
  document.querySelectorAll("[data-follow]").forEach(function (r) {
    if (window.EventSource) { liveRegion(r); }
  });
});
