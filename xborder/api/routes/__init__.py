"""The API's routes, one router per subject; `xborder.api.app.create_app` includes them all."""
