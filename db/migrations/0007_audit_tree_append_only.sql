-- Tree nodes are as immutable as the entries they hash: refuse any change or removal.
CREATE TRIGGER audit_tree_nodes_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_tree_nodes
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_tree_nodes_no_truncate
  BEFORE TRUNCATE ON audit_tree_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
