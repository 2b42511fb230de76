CREATE TABLE "attributions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"anomaly_id" uuid NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"repository_id" uuid,
	"deployed_sha" text,
	"deployed_sha_source" text,
	"suspects" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"ticket" jsonb,
	"confidence" jsonb,
	"reasoning" text,
	"reasoning_source" text,
	"timings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "attributions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "change_tickets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"change_id" uuid NOT NULL,
	"ticket_key" text NOT NULL,
	"link_type" text NOT NULL,
	"source" text NOT NULL,
	"primary" boolean DEFAULT false NOT NULL,
	"score" real,
	"features" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "change_tickets" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "changes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"repository_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"pr_number" integer,
	"title" text NOT NULL,
	"body" text,
	"branch" text,
	"base" text,
	"author_login" text,
	"author_email" text,
	"author_name" text,
	"state" text DEFAULT 'merged' NOT NULL,
	"opened_at" timestamp with time zone,
	"merged_at" timestamp with time zone,
	"merge_sha" text,
	"head_sha" text,
	"files" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"commits" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"reverts_sha" text,
	"reverted_by_sha" text,
	"docs_or_tests_only" boolean DEFAULT false NOT NULL,
	"reviewers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"html_url" text,
	"sources" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "changes" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "deploys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"repository_id" uuid,
	"service" text NOT NULL,
	"environment" text NOT NULL,
	"version" text,
	"sha" text NOT NULL,
	"deployed_at" timestamp (3) with time zone NOT NULL,
	"source" text NOT NULL,
	"external_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "deploys" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "repositories" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text NOT NULL,
	"url" text NOT NULL,
	"provider" text NOT NULL,
	"default_branch" text DEFAULT 'main' NOT NULL,
	"services" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"jira_project_keys" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"credential_id" uuid,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"head_sha" text,
	"last_fetched_at" timestamp with time zone,
	"last_fetch_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "repositories" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "tickets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"key" text NOT NULL,
	"project_key" text NOT NULL,
	"external_id" text,
	"summary" text NOT NULL,
	"description" text,
	"status" text,
	"status_category" text,
	"status_history" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"assignee" jsonb,
	"reporter" jsonb,
	"approvers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"fix_versions" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"url" text,
	"ticket_created_at" timestamp with time zone,
	"ticket_updated_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tickets" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "attributions" ADD CONSTRAINT "attributions_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attributions" ADD CONSTRAINT "attributions_anomaly_id_anomalies_id_fk" FOREIGN KEY ("anomaly_id") REFERENCES "public"."anomalies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attributions" ADD CONSTRAINT "attributions_repository_id_repositories_id_fk" FOREIGN KEY ("repository_id") REFERENCES "public"."repositories"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "change_tickets" ADD CONSTRAINT "change_tickets_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "change_tickets" ADD CONSTRAINT "change_tickets_change_id_changes_id_fk" FOREIGN KEY ("change_id") REFERENCES "public"."changes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "changes" ADD CONSTRAINT "changes_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "changes" ADD CONSTRAINT "changes_repository_id_repositories_id_fk" FOREIGN KEY ("repository_id") REFERENCES "public"."repositories"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deploys" ADD CONSTRAINT "deploys_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deploys" ADD CONSTRAINT "deploys_repository_id_repositories_id_fk" FOREIGN KEY ("repository_id") REFERENCES "public"."repositories"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "repositories" ADD CONSTRAINT "repositories_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "repositories" ADD CONSTRAINT "repositories_credential_id_credentials_id_fk" FOREIGN KEY ("credential_id") REFERENCES "public"."credentials"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "attributions_anomaly_id_key" ON "attributions" USING btree ("anomaly_id");--> statement-breakpoint
CREATE INDEX "attributions_org_id_status_idx" ON "attributions" USING btree ("org_id","status");--> statement-breakpoint
CREATE INDEX "attributions_repository_id_idx" ON "attributions" USING btree ("repository_id");--> statement-breakpoint
CREATE UNIQUE INDEX "change_tickets_change_id_ticket_key_key" ON "change_tickets" USING btree ("change_id","ticket_key");--> statement-breakpoint
CREATE INDEX "change_tickets_org_id_ticket_key_idx" ON "change_tickets" USING btree ("org_id","ticket_key");--> statement-breakpoint
CREATE UNIQUE INDEX "changes_org_id_repository_id_pr_number_key" ON "changes" USING btree ("org_id","repository_id","pr_number") WHERE pr_number is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "changes_org_id_repository_id_merge_sha_key" ON "changes" USING btree ("org_id","repository_id","merge_sha") WHERE merge_sha is not null;--> statement-breakpoint
CREATE INDEX "changes_org_id_merged_at_idx" ON "changes" USING btree ("org_id","merged_at");--> statement-breakpoint
CREATE INDEX "changes_repository_id_idx" ON "changes" USING btree ("repository_id");--> statement-breakpoint
CREATE INDEX "changes_org_id_author_idx" ON "changes" USING btree ("org_id","author_login");--> statement-breakpoint
CREATE INDEX "deploys_org_id_service_env_at_idx" ON "deploys" USING btree ("org_id","service","environment","deployed_at");--> statement-breakpoint
CREATE INDEX "deploys_org_id_version_idx" ON "deploys" USING btree ("org_id","version");--> statement-breakpoint
CREATE INDEX "deploys_repository_id_idx" ON "deploys" USING btree ("repository_id");--> statement-breakpoint
CREATE UNIQUE INDEX "deploys_org_id_source_external_id_key" ON "deploys" USING btree ("org_id","source","external_id") WHERE external_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "repositories_org_id_name_key" ON "repositories" USING btree ("org_id","name") WHERE deleted_at is null;--> statement-breakpoint
CREATE INDEX "repositories_credential_id_idx" ON "repositories" USING btree ("credential_id");--> statement-breakpoint
CREATE UNIQUE INDEX "tickets_org_id_key_key" ON "tickets" USING btree ("org_id","key");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "attributions" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "change_tickets" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "changes" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "deploys" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "repositories" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "tickets" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);