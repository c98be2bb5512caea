#!/bin/sh
# Starts the Cloud Run job `reviewloop-once` on the merge cadence (every
# 15 minutes); rounds run whenever their own slot is due within that pass.
# Use the finest cadence among your schedules, a minute after the slot
# (docs/operations.md). The scheduler's account needs roles/run.invoker on
# the job, nothing else.
set -eu
PROJECT=${PROJECT:?set PROJECT}
REGION=${REGION:?set REGION}
SCHEDULER_SA=${SCHEDULER_SA:-reviewloop-scheduler@$PROJECT.iam.gserviceaccount.com}

gcloud run jobs add-iam-policy-binding reviewloop-once \
  --project "$PROJECT" --region "$REGION" \
  --member "serviceAccount:$SCHEDULER_SA" --role roles/run.invoker

gcloud scheduler jobs create http reviewloop-once \
  --project "$PROJECT" --location "$REGION" \
  --schedule '1-59/15 * * * *' --time-zone 'Etc/UTC' \
  --http-method POST \
  --uri "https://run.googleapis.com/v2/projects/$PROJECT/locations/$REGION/jobs/reviewloop-once:run" \
  --oauth-service-account-email "$SCHEDULER_SA"
