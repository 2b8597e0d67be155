"""The web layer: the server the page talks to. The ML core (``explorer/*.py``) knows nothing of it.

- ``startup.py`` — ``python -m explorer``: read the model, take the port, open the browser, serve.
- ``server.py`` — the ASGI app: middleware, the login, our routes, Gradio mounted as the page's shell.
- ``routes.py`` — the ``/api`` routes: thin callbacks over :mod:`explorer.inference` and :mod:`explorer.tools`.
- ``schemas.py`` — the request bodies and their limits.
- ``bundle.py`` — the binary bundle the page decodes drags from.
- ``page.py`` — the Gradio Blocks shell, the page's ``<head>`` and its static files (``static/``).
- ``auth.py`` — the class login, given to Gradio through its ``auth_dependency`` hook.
- ``middleware.py`` — body limits, security headers, origin checks, script preloading.
- ``sessions.py`` — each tab's newest request number ("newest wins").
- ``gradio_import.py`` — ``import gradio`` without its type-stub rewriting.
"""
