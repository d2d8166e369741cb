//! Writing EC2's XML responses: `<ActionResponse xmlns=…><requestId>…</requestId>…`, lists as `<item>`s.

use std::collections::BTreeMap;

use crate::engine::snapshot::{ACCOUNT_ID, Snapshot};
use crate::engine::volume::{Attachment, Modification, Volume, VolumeSpec};

pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// An XML document under construction.
pub struct Xml {
    buf: String,
}

impl Xml {
    /// Starts `<{action}Response>` with the request id.
    pub fn response(action: &str, request_id: &str) -> Self {
        let mut buf = String::with_capacity(1024);
        buf.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        buf.push_str(&format!("<{action}Response xmlns=\"{XMLNS}\">"));
        let mut me = Self { buf };
        me.elem("requestId", request_id);
        me
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    pub fn elem(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        let value = value.to_string();
        if value.is_empty() {
            self.buf.push_str(&format!("<{name}/>"));
        } else {
            self.open(name);
            self.buf.push_str(&escape(&value));
            self.close(name);
        }
        self
    }

    pub fn opt(&mut self, name: &str, value: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(v) = value {
            self.elem(name, v);
        }
        self
    }

    pub fn finish(mut self, action: &str) -> String {
        self.close(&format!("{action}Response"));
        self.buf
    }

    /// A volume's fields; `status` overrides the stored one (CreateVolume answers "creating").
    pub fn volume_fields(&mut self, v: &Volume, status: Option<&str>) -> &mut Self {
        self.elem("volumeId", &v.id)
            .elem("size", v.spec.size_gib)
            .elem("snapshotId", v.snapshot_id.as_deref().unwrap_or(""))
            .elem("availabilityZone", &v.availability_zone)
            .elem("status", status.unwrap_or(v.status()))
            .elem("createTime", &v.create_time);
        self.open("attachmentSet");
        for a in &v.attachments {
            self.open("item");
            self.attachment_fields(&v.id, a, "attached");
            self.close("item");
        }
        self.close("attachmentSet");
        self.tag_set(&v.tags);
        self.elem("volumeType", v.spec.volume_type.as_str())
            .opt("iops", v.spec.reported_iops())
            .elem("encrypted", v.encrypted)
            .opt("kmsKeyId", v.kms_key_id.as_deref())
            .elem("multiAttachEnabled", v.spec.multi_attach)
            .opt("throughput", v.spec.throughput)
    }

    pub fn tag_set(&mut self, tags: &BTreeMap<String, String>) -> &mut Self {
        if !tags.is_empty() {
            self.open("tagSet");
            for (key, value) in tags {
                self.open("item").elem("key", key).elem("value", value).close("item");
            }
            self.close("tagSet");
        }
        self
    }

    /// A snapshot's fields (`progress` is the live one while pending).
    pub fn snapshot_fields(&mut self, s: &Snapshot, progress: u8) -> &mut Self {
        self.elem("snapshotId", &s.id)
            .elem("volumeId", &s.volume_id)
            .elem("status", s.state.as_str())
            .opt("statusMessage", s.state_message.as_deref())
            .elem("startTime", &s.start_time)
            .elem("progress", format!("{progress}%"))
            .elem("ownerId", ACCOUNT_ID)
            .elem("volumeSize", s.volume_size_gib)
            .elem("description", &s.description)
            .elem("encrypted", s.encrypted)
            .opt("kmsKeyId", s.kms_key_id.as_deref());
        self.tag_set(&s.tags);
        self.elem("storageTier", "standard")
            .opt("completionTime", s.completion_time.as_deref())
            .opt("fullSnapshotSizeInBytes", (s.full_size_bytes > 0).then_some(s.full_size_bytes))
    }

    pub fn attachment_fields(&mut self, volume_id: &str, a: &Attachment, status: &str) -> &mut Self {
        self.elem("volumeId", volume_id)
            .elem("instanceId", &a.instance_id)
            .elem("device", &a.device)
            .elem("status", status)
            .elem("attachTime", &a.attach_time)
            .elem("deleteOnTermination", a.delete_on_termination)
    }

    fn spec_fields(&mut self, prefix: &str, s: &VolumeSpec) -> &mut Self {
        self.elem(&format!("{prefix}Size"), s.size_gib)
            .opt(&format!("{prefix}Iops"), s.reported_iops())
            .elem(&format!("{prefix}VolumeType"), s.volume_type.as_str())
            .opt(&format!("{prefix}Throughput"), s.throughput)
            .elem(&format!("{prefix}MultiAttachEnabled"), s.multi_attach)
    }

    pub fn modification_fields(&mut self, volume_id: &str, m: &Modification) -> &mut Self {
        self.elem("volumeId", volume_id).elem("modificationState", &m.state);
        self.spec_fields("target", &m.target).spec_fields("original", &m.original);
        self.elem("progress", m.progress).elem("startTime", &m.start_time).opt("endTime", m.end_time.as_deref())
    }
}
