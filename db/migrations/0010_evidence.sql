CREATE TABLE "anomaly_detection_context" (
	"org_id" uuid NOT NULL,
	"anomaly_id" uuid NOT NULL,
	"provider" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"context" jsonb,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"fetched_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "anomaly_detection_context" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "audit_checkpoints" (
	"org_id" uuid NOT NULL,
	"size" bigint NOT NULL,
	"root" "bytea" NOT NULL,
	"note" text NOT NULL,
	"key_name" text NOT NULL,
	"key_id" text NOT NULL,
	"signed_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "audit_checkpoints_org_id_size_pk" PRIMARY KEY("org_id","size")
);
--> statement-breakpoint
ALTER TABLE "audit_checkpoints" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "evidence_exports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"criterion" text NOT NULL,
	"period_from" timestamp (3) with time zone NOT NULL,
	"period_to" timestamp (3) with time zone NOT NULL,
	"row_count" integer NOT NULL,
	"manifest_seq" bigint NOT NULL,
	"checkpoint_size" bigint NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "evidence_exports" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "evidence_rows" (
	"org_id" uuid NOT NULL,
	"facts_hash" "bytea" NOT NULL,
	"seq" bigint NOT NULL,
	"criterion" text NOT NULL,
	"subject_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "evidence_rows_org_id_facts_hash_pk" PRIMARY KEY("org_id","facts_hash")
);
--> statement-breakpoint
ALTER TABLE "evidence_rows" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "anomaly_detection_context" ADD CONSTRAINT "anomaly_detection_context_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "anomaly_detection_context" ADD CONSTRAINT "anomaly_detection_context_anomaly_id_anomalies_id_fk" FOREIGN KEY ("anomaly_id") REFERENCES "public"."anomalies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audit_checkpoints" ADD CONSTRAINT "audit_checkpoints_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evidence_exports" ADD CONSTRAINT "evidence_exports_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evidence_rows" ADD CONSTRAINT "evidence_rows_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "anomaly_detection_context_anomaly_id_key" ON "anomaly_detection_context" USING btree ("anomaly_id");--> statement-breakpoint
CREATE INDEX "anomaly_detection_context_org_id_status_idx" ON "anomaly_detection_context" USING btree ("org_id","status");--> statement-breakpoint
CREATE INDEX "audit_checkpoints_org_id_signed_at_idx" ON "audit_checkpoints" USING btree ("org_id","signed_at");--> statement-breakpoint
CREATE INDEX "evidence_exports_org_id_created_at_idx" ON "evidence_exports" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "evidence_rows_org_id_subject_id_idx" ON "evidence_rows" USING btree ("org_id","subject_id");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "anomaly_detection_context" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "audit_checkpoints" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "evidence_exports" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "evidence_rows" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);