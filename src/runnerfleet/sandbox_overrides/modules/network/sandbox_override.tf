# Sandbox only (moto 5.x gaps, DESIGN.md section 5); merged over the network module.

resource "aws_launch_template" "nat_instance" {
  lifecycle {
    # moto reports the template's own tags as an extra "launch-template" tag specification.
    ignore_changes = [tag_specifications]
  }
}
