// Copy buttons of the admin pages: <button type="button" data-copy="ID"> copies the text of the
// element with that id. Served from this origin (the pages' CSP allows only 'self' scripts).
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  const source = button && document.getElementById(button.getAttribute('data-copy') ?? '');
  if (!button || !source) return;
  const label = button.textContent;
  const done = (text) => {
    button.textContent = text;
    setTimeout(() => (button.textContent = label), 1500);
  };
  navigator.clipboard.writeText(source.textContent.trim()).then(
    () => done('Copied'),
    () => {
      // No clipboard access (an old browser, or not a secure context): select it for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      done('Selected: press Ctrl+C');
    },
  );
});
