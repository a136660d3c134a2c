"""The routes of the Events, Owners, API keys, Signing keys and Users pages, and of portal
links (registered by console/app.py beside the others)."""

from __future__ import annotations

from starlette.routing import Route

from hookline.console.views import api_keys, events, owners, portal, session, signing_keys, users
from hookline.console.visit import page

GET, POST = ["GET"], ["POST"]


def pages_routes() -> list[Route]:
    return [
        Route("/events", page(events.listing), methods=GET),
        Route("/events/{id}", page(events.detail), methods=GET),
        Route("/owners", page(owners.index), methods=GET),
        Route("/owners/identities", page(owners.create_identity), methods=POST),
        Route("/owners/identities/{handle}/delete", page(owners.delete_identity_form), methods=GET),
        Route("/owners/identities/{handle}/delete", page(owners.delete_identity), methods=POST),
        Route("/owners/mailboxes", page(owners.create_mailbox), methods=POST),
        Route("/owners/mailboxes/{address}", page(owners.mailbox_form), methods=GET),
        Route("/owners/mailboxes/{address}", page(owners.set_mailbox_webhook), methods=POST),
        Route("/owners/numbers", page(owners.create_number), methods=POST),
        Route("/owners/numbers/{id}", page(owners.number_form), methods=GET),
        Route("/owners/numbers/{id}", page(owners.configure_number), methods=POST),
        Route("/api-keys", page(api_keys.index), methods=GET),
        Route("/api-keys", page(api_keys.create), methods=POST),
        Route("/api-keys/{id}/revoke", page(api_keys.revoke_form), methods=GET),
        Route("/api-keys/{id}/revoke", page(api_keys.revoke), methods=POST),
        Route("/signing-keys", page(signing_keys.index), methods=GET),
        Route("/signing-keys/organization", page(signing_keys.rotate_organization), methods=POST),
        Route(
            "/signing-keys/identities/{handle}",
            page(signing_keys.rotate_identity),
            methods=POST,
        ),
        Route("/users", page(users.index), methods=GET),
        Route("/users", page(users.create), methods=POST),
        Route("/users/user", page(users.user_form), methods=GET),
        Route("/users/disable", page(users.disable), methods=POST),
        Route("/users/reset-password", page(users.reset_password), methods=POST),
        Route("/users/password-link", page(users.password_link), methods=POST),
        Route("/set-password", session.set_password_form, methods=GET),
        Route("/set-password", session.set_password, methods=POST),
        Route("/portal", portal.open_link, methods=GET),
    ]
