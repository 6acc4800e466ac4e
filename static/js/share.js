// The share result page: copy the link, the phone's own share sheet, print the card.
(function () {
  'use strict';
  var url = document.getElementById('share-url');
  var copy = document.getElementById('share-copy');
  var native = document.getElementById('share-native');
  var print = document.getElementById('share-print');
  if (!url) { return; }
  if (copy) {
    copy.addEventListener('click', function () {
      var done = function () { copy.textContent = copy.dataset.done; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url.value).then(done, function () { url.select(); document.execCommand('copy'); done(); });
      } else {
        url.select();
        document.execCommand('copy');
        done();
      }
    });
  }
  if (native && navigator.share) {
    native.hidden = false;
    native.addEventListener('click', function () {
      navigator.share({ title: native.dataset.title, url: url.value }).catch(function () { /* dismissed */ });
    });
  }
  if (print) { print.addEventListener('click', function () { window.print(); }); }
})();
