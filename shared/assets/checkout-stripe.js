// The checkout page with Stripe: Stripe.js's card field takes the card, and the form posts
// only the token Stripe made from it (never a number, an expiry or a CVC). When the bank asks
// for 3-D Secure, the server answers the page again with the PaymentIntent's client secret;
// Stripe.js runs the authentication and the form posts the PaymentIntent back.
// Stripe.js reference: https://docs.stripe.com/js (elements, createToken, confirmCardPayment).
(function () {
  'use strict';
  var config = document.getElementById('stripe-config');
  var form = document.getElementById('pay-form');
  var button = document.getElementById('pay-button');
  var cardError = document.getElementById('card-error');
  // A Connect merchant's payments are made on its account: the token and 3-D Secure too.
  var account = config.dataset.stripeAccount;
  var stripe = account ? Stripe(config.dataset.publishableKey, { stripeAccount: account })
                       : Stripe(config.dataset.publishableKey);

  function showError(message) {
    cardError.textContent = message;
    cardError.hidden = false;
  }

  var clientSecret = config.dataset.clientSecret;
  if (clientSecret) {
    // Whatever the bank decided, the server asks Stripe for the outcome: post the
    // PaymentIntent back (its id is the part of the secret before "_secret_").
    button.disabled = true;
    stripe.confirmCardPayment(clientSecret).then(function () {
      document.getElementById('payment-intent').value = clientSecret.split('_secret_')[0];
      form.submit();
    });
    return;
  }

  var card = stripe.elements().create('card');
  card.mount('#card-element');
  var submitting = false;
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (submitting) return; // a double click pays once
    submitting = true;
    button.disabled = true;
    stripe.createToken(card).then(function (result) {
      if (result.error || !result.token) {
        showError((result.error && result.error.message) || 'Check your card details and try again.');
        submitting = false;
        button.disabled = false;
        return;
      }
      document.getElementById('payment-token').value = result.token.id;
      form.submit(); // the browser's own submit: no second 'submit' event
    });
  });
})();
