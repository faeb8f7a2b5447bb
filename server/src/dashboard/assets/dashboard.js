// The dashboard's one script. Pages work without it; it adds:
// - live refresh: an element with data-live is re-fetched every 2 seconds and replaced when
//   its content changed (a 401 means the session ended: go to sign-in);
// - confirmation before forms marked data-confirm are sent.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

const live = document.querySelector("[data-live]");
if (live) {
  let last = live.innerHTML;
  let busy = false;
  const refresh = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(live.dataset.live, {
        credentials: "same-origin",
        headers: { accept: "text/html" },
      });
      if (response.status === 401) {
        window.location.assign("/dashboard/sign-in");
        return;
      }
      if (response.ok) {
        const html = await response.text();
        if (html !== last) {
          live.innerHTML = html;
          last = html;
          live.dataset.updated = String(Date.now());
        }
      }
    } catch {
      // Offline for a moment: the next tick tries again.
    } finally {
      busy = false;
    }
  };
  setInterval(refresh, 2000);
}
