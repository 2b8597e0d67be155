"""The web layer: the server the page talks to. ``explorer.vae``, ``explorer.store`` and ``explorer.views``
know nothing of it.

- ``startup.py`` — ``python -m explorer``: read the model, take the port, open the browser, serve.
- ``asgi.py`` — the app as a factory for a standard server's own workers (``--workers N``: uvicorn's).
- ``server.py`` — the ASGI app: middleware, the login, our routes, Gradio mounted as the page's shell.
- ``routes.py`` — the ``/api`` routes: thin callbacks over :mod:`explorer.views`.
- ``schemas.py`` — the request bodies and their limits; ``answers.py`` — the answers, field by field.
- ``bundle.py`` — the binary bundle the page decodes drags from.
- ``page.py`` — the Gradio Blocks shell, the page's ``<head>`` and its static files (``static/``).
- ``live_routes.py`` — the lecturer's live training run: its state, its event stream, start and stop.
- ``site.py`` — the site as files named by their content; ``export.py`` writes it as a static site.
- ``auth.py`` — the class login, given to Gradio through its ``auth_dependency`` hook.
- ``middleware.py`` — body limits, security headers, origin checks, script preloading.
- ``admission.py`` — admission control: each tab's computations and the bounded queues.
- ``batching.py`` — micro-batching of the compute routes.
- ``connections.py`` — read deadlines and the connection cap (uvicorn's h11 protocol, subclassed).
- ``newest_wins.py`` — each tab's newest request number ("newest wins"), in this process.
- ``gradio_import.py`` — ``import gradio`` without its type-stub rewriting.
"""
