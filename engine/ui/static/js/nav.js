// What pages share with the router: leaving a page stops its streams and polls; navigate changes the page.
let cleanups = [];

export function onLeave(stop) { cleanups.push(stop); }

export function leave() {
  for (const stop of cleanups) {
    try { stop(); } catch { /* a stream already closed */ }
  }
  cleanups = [];
}

export function navigate(to, replace) {
  if (replace) window.history.replaceState(null, "", to); else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event("kafkaban:navigate"));
}

// a poll that stops when the page is left, and skips a round while the tab is hidden
export function every(ms, work) {
  const timer = setInterval(() => { if (!document.hidden) work(); }, ms);
  onLeave(() => clearInterval(timer));
}
