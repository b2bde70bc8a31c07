"""Settings of the Celery worker started by the schedule integration test: the deployment's
settings, with e-mail written to files so that the test can count deliveries across
processes."""

import os

from deploy.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["TRIAL_TEST_EMAIL_DIR"]
