"""Alert notifications: webhooks, Telegram and e-mail, routed from the alert engine.

:class:`~hashfleet.server.alerts.notify.router.NotifyRouter` is the engine's ``notify``
callback; each configured notifier has its own bounded queue and delivery task.
"""
