CREATE TYPE "public"."delivery_status" AS ENUM('received', 'processed', 'ignored', 'dead');--> statement-breakpoint
CREATE TYPE "public"."anomaly_status" AS ENUM('open', 'resolved');--> statement-breakpoint
CREATE TYPE "public"."incident_status" AS ENUM('open', 'acknowledged', 'resolved');--> statement-breakpoint
CREATE TABLE "deliveries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"integration_id" uuid NOT NULL,
	"provider" text NOT NULL,
	"delivery_key" text NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL,
	"headers" jsonb NOT NULL,
	"content_type" text,
	"body" "bytea" NOT NULL,
	"status" "delivery_status" DEFAULT 'received' NOT NULL,
	"event_type" text,
	"reason" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"signal_count" integer DEFAULT 0 NOT NULL,
	"processed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "deliveries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "anomalies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"fingerprint" text NOT NULL,
	"kind" text NOT NULL,
	"source" text NOT NULL,
	"title" text NOT NULL,
	"severity" text NOT NULL,
	"status" "anomaly_status" DEFAULT 'open' NOT NULL,
	"service" text,
	"environment" text,
	"release" text,
	"commit_sha" text,
	"error_type" text,
	"message" text,
	"frames" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"first_seen_at" timestamp (3) with time zone NOT NULL,
	"detected_at" timestamp (3) with time zone NOT NULL,
	"last_seen_at" timestamp (3) with time zone NOT NULL,
	"resolved_at" timestamp (3) with time zone,
	"count" integer DEFAULT 1 NOT NULL,
	"regressions" integer DEFAULT 0 NOT NULL,
	"incident_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "anomalies" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "incidents" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"title" text NOT NULL,
	"status" "incident_status" DEFAULT 'open' NOT NULL,
	"severity" text NOT NULL,
	"service" text,
	"environment" text,
	"release" text,
	"opened_at" timestamp (3) with time zone NOT NULL,
	"last_activity_at" timestamp (3) with time zone NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"resolved_at" timestamp with time zone,
	"reopen_count" integer DEFAULT 0 NOT NULL,
	"resolution" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "incidents" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "signals" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"delivery_id" uuid NOT NULL,
	"anomaly_id" uuid,
	"kind" text NOT NULL,
	"source" text NOT NULL,
	"fingerprint" text NOT NULL,
	"title" text NOT NULL,
	"severity" text NOT NULL,
	"status" text NOT NULL,
	"service" text,
	"environment" text,
	"release" text,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "signals" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_integration_id_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."integrations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "anomalies" ADD CONSTRAINT "anomalies_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "anomalies" ADD CONSTRAINT "anomalies_incident_id_incidents_id_fk" FOREIGN KEY ("incident_id") REFERENCES "public"."incidents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "incidents" ADD CONSTRAINT "incidents_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signals" ADD CONSTRAINT "signals_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signals" ADD CONSTRAINT "signals_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signals" ADD CONSTRAINT "signals_anomaly_id_anomalies_id_fk" FOREIGN KEY ("anomaly_id") REFERENCES "public"."anomalies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_integration_id_delivery_key_key" ON "deliveries" USING btree ("integration_id","delivery_key");--> statement-breakpoint
CREATE INDEX "deliveries_org_id_status_received_at_idx" ON "deliveries" USING btree ("org_id","status","received_at");--> statement-breakpoint
CREATE INDEX "deliveries_pending_idx" ON "deliveries" USING btree ("received_at") WHERE status = 'received';--> statement-breakpoint
CREATE UNIQUE INDEX "anomalies_org_id_fingerprint_key" ON "anomalies" USING btree ("org_id","fingerprint");--> statement-breakpoint
CREATE INDEX "anomalies_org_id_status_detected_at_idx" ON "anomalies" USING btree ("org_id","status","detected_at");--> statement-breakpoint
CREATE INDEX "anomalies_org_id_service_idx" ON "anomalies" USING btree ("org_id","service");--> statement-breakpoint
CREATE INDEX "anomalies_incident_id_idx" ON "anomalies" USING btree ("incident_id");--> statement-breakpoint
CREATE INDEX "incidents_org_id_status_opened_at_idx" ON "incidents" USING btree ("org_id","status","opened_at");--> statement-breakpoint
CREATE INDEX "incidents_org_id_service_env_idx" ON "incidents" USING btree ("org_id","service","environment","last_activity_at");--> statement-breakpoint
CREATE INDEX "incidents_org_id_release_idx" ON "incidents" USING btree ("org_id","release");--> statement-breakpoint
CREATE INDEX "signals_org_id_anomaly_id_idx" ON "signals" USING btree ("org_id","anomaly_id","occurred_at");--> statement-breakpoint
CREATE INDEX "signals_delivery_id_idx" ON "signals" USING btree ("delivery_id");--> statement-breakpoint
CREATE INDEX "signals_anomaly_id_idx" ON "signals" USING btree ("anomaly_id");--> statement-breakpoint
CREATE INDEX "signals_org_id_kind_idx" ON "signals" USING btree ("org_id","kind","occurred_at");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "deliveries" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "anomalies" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "incidents" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "signals" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);