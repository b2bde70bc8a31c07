#!/usr/bin/env bash
# Start the web server, one Celery worker and the single beat; stop all three together.
set -eu
cd "$(dirname "$0")/../.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/log

$BIN/celery -A deploy worker -Q default,reminders,lab,exports --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
WORKER=$!
$BIN/celery -A deploy beat --loglevel=INFO >var/log/beat.log 2>&1 &
BEAT=$!
trap 'kill $WORKER $BEAT 2>/dev/null; wait' EXIT INT TERM

broker=${REDIS_URL:-filesystem broker under var/broker}
cat <<MSG

  Adaptive trial backend is starting on http://$HOST:$PORT/
    admin:      http://$HOST:$PORT/admin/
    API docs:   http://$HOST:$PORT/api/docs/   (schema: /api/schema/)
    dashboard:  http://$HOST:$PORT/dashboard/
    Celery:     worker + beat on $broker (logs in var/log/)
  Demo logins (password: $(cat var/demo_password 2>/dev/null || echo 'see seed_demo output')):
$(.venv/bin/python manage.py seed_demo --list-logins 2>/dev/null | sed 's/^/    /')

MSG
$BIN/gunicorn deploy.wsgi --bind "$HOST:$PORT" --workers 2 --access-logfile - --log-level warning
