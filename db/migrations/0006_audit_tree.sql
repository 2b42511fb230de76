CREATE TABLE "audit_tree_nodes" (
	"org_id" uuid NOT NULL,
	"level" smallint NOT NULL,
	"idx" bigint NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "audit_tree_nodes_org_id_level_idx_pk" PRIMARY KEY("org_id","level","idx")
);
--> statement-breakpoint
ALTER TABLE "audit_tree_nodes" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "audit_tree_nodes" ADD CONSTRAINT "audit_tree_nodes_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "audit_tree_nodes" AS PERMISSIVE FOR ALL TO public USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid) WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);