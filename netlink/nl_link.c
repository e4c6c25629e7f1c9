// SPDX-License-Identifier: Apache-2.0
/*
 * Links: look up, read back, create a macvlan, rename, up/down, delete.
 *
 * Theory of operation: reading a link is one RTM_GETLINK (by index, or by IFLA_IFNAME) whose
 * single RTM_NEWLINK reply is walked one nesting level per callback: parse_link() for the
 * IFLA_* attributes, parse_linkinfo() for IFLA_LINKINFO, parse_macvlan() for its
 * IFLA_INFO_DATA. The kind may in principle follow the data in IFLA_LINKINFO, so the data
 * nest is remembered and parsed once the kind is known. Writes are RTM_NEWLINK / RTM_DELLINK
 * requests with NLM_F_ACK, and their result is the ACK's error.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "netlink/nl.h"
#include "netlink/nl_priv.h"

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

static int parse_macvlan(const struct nlattr *attr, void *data)
{
	struct nl_link *link = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_MACVLAN_MODE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		link->macvlan_mode = mnl_attr_get_u32(attr);
		break;
	case IFLA_MACVLAN_BC_QUEUE_LEN:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		link->bcqueuelen = mnl_attr_get_u32(attr);
		break;
	}
	return MNL_CB_OK;
}

struct linkinfo_ctx {
	struct nl_link *link;
	const struct nlattr *data;
};

static int parse_linkinfo(const struct nlattr *attr, void *data)
{
	struct linkinfo_ctx *ctx = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_INFO_KIND:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		snprintf(ctx->link->kind, sizeof(ctx->link->kind), "%s", mnl_attr_get_str(attr));
		break;
	case IFLA_INFO_DATA:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		ctx->data = attr;
		break;
	}
	return MNL_CB_OK;
}

static int parse_link(const struct nlattr *attr, void *data)
{
	struct nl_link *link = data;
	struct linkinfo_ctx info = { .link = link };

	switch (mnl_attr_get_type(attr)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		snprintf(link->name, sizeof(link->name), "%s", mnl_attr_get_str(attr));
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0 ||
		    mnl_attr_get_payload_len(attr) > sizeof(link->mac))
			return MNL_CB_ERROR;
		link->mac_len = mnl_attr_get_payload_len(attr);
		memcpy(link->mac, mnl_attr_get_payload(attr), link->mac_len);
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		link->mtu = mnl_attr_get_u32(attr);
		break;
	case IFLA_LINK:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		link->link_ifindex = (int)mnl_attr_get_u32(attr);
		break;
	case IFLA_LINK_NETNSID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		link->link_netnsid = (int32_t)mnl_attr_get_u32(attr);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		if (mnl_attr_parse_nested(attr, parse_linkinfo, &info) < 0)
			return MNL_CB_ERROR;
		if (info.data && strcmp(link->kind, "macvlan") == 0 &&
		    mnl_attr_parse_nested(info.data, parse_macvlan, link) < 0)
			return MNL_CB_ERROR;
		break;
	}
	return MNL_CB_OK;
}

static int link_reply(const struct nlmsghdr *nlh, void *data)
{
	struct nl_link *link = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return 0;
	memset(link, 0, sizeof(*link));
	link->link_netnsid = -1;
	link->ifindex = ifi->ifi_index;
	link->flags = ifi->ifi_flags;
	if (mnl_attr_parse(nlh, sizeof(*ifi), parse_link, link) < 0)
		return -EBADMSG;
	return 0;
}

/**
 * nl_link_get() - read a link by @ifindex (> 0) or else by @name
 * @nl: the socket; the link is looked up in its namespace.
 * @ifindex: the link's index, or <= 0 to use @name.
 * @name: the link's name when @ifindex <= 0.
 * @ret: receives the link; untouched on failure.
 * Return: 0, -ENODEV if there is no such link, -EINVAL for a bad name, or -errno.
 */
int nl_link_get(struct nl *nl, int ifindex, const char *name, struct nl_link *ret)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct nlmsghdr *nlh;
	struct nl_link link = { .ifindex = 0 };
	int err;

	if (ifindex <= 0 && (!name || !name[0] || strlen(name) >= IF_NAMESIZE))
		return -EINVAL;
	nlh = link_msg(buf, RTM_GETLINK, 0, ifindex > 0 ? ifindex : 0);
	if (ifindex <= 0)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = nl_request(nl, nlh, link_reply, &link);
	if (err < 0)
		return err;
	if (link.ifindex <= 0)
		return -ENODEV;
	*ret = link;
	return 0;
}

/**
 * nl_link_index() - the ifindex of @name in @nl's namespace
 * @nl: the socket.
 * @name: the interface name.
 * Return: the ifindex (> 0), -ENODEV if there is none, or -errno.
 */
int nl_link_index(struct nl *nl, const char *name)
{
	struct nl_link link;
	int err;

	err = nl_link_get(nl, 0, name, &link);
	return err < 0 ? err : link.ifindex;
}

/**
 * nl_macvlan_create() - create a macvlan link (RTM_NEWLINK, NLM_F_CREATE|NLM_F_EXCL)
 * @nl: the socket; @req->master_ifindex is looked up in its namespace.
 * @req: what to create; see struct nl_macvlan_req.
 * Return: 0, -EEXIST if the name is taken in the target netns, or -errno (see nl->ext_ack).
 */
int nl_macvlan_create(struct nl *nl, const struct nl_macvlan_req *req)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	if (!req->name || !req->name[0] || strlen(req->name) >= IF_NAMESIZE ||
	    req->master_ifindex <= 0)
		return -EINVAL;
	nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, req->name);
	mnl_attr_put_u32(nlh, IFLA_LINK, (uint32_t)req->master_ifindex);
	if (req->netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)req->netns_fd);
	if (req->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, req->mtu);
	if (req->mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, req->mac);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, (uint32_t)req->mode);
	if (req->bcqueuelen >= 0)
		mnl_attr_put_u32(nlh, IFLA_MACVLAN_BC_QUEUE_LEN, (uint32_t)req->bcqueuelen);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_request(nl, nlh, NULL, NULL);
}

/**
 * nl_link_rename() - rename a link
 * @nl: the socket.
 * @ifindex: the link.
 * @new_name: its new name (1 to IF_NAMESIZE - 1 bytes).
 * Linux 6.2 and later rename a link that is up; older kernels refuse that with -EBUSY.
 * Return: 0, -EEXIST if the name is taken, -EBUSY (see above), or -errno.
 */
int nl_link_rename(struct nl *nl, int ifindex, const char *new_name)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct nlmsghdr *nlh;

	if (ifindex <= 0 || !new_name || !new_name[0] || strlen(new_name) >= IF_NAMESIZE)
		return -EINVAL;
	nlh = link_msg(buf, RTM_NEWLINK, 0, ifindex);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, new_name);
	return nl_request(nl, nlh, NULL, NULL);
}

/**
 * nl_link_set_up() - set or clear IFF_UP
 * @nl: the socket.
 * @ifindex: the link.
 * @up: true for up, false for down.
 * Return: 0 or -errno.
 */
int nl_link_set_up(struct nl *nl, int ifindex, bool up)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (ifindex <= 0)
		return -EINVAL;
	nlh = link_msg(buf, RTM_NEWLINK, 0, ifindex);
	ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	return nl_request(nl, nlh, NULL, NULL);
}

/**
 * nl_link_del() - delete a link
 * @nl: the socket.
 * @ifindex: the link.
 * Return: 0, -ENODEV if it is gone already, or -errno.
 */
int nl_link_del(struct nl *nl, int ifindex)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */

	if (ifindex <= 0)
		return -ENODEV;
	return nl_request(nl, link_msg(buf, RTM_DELLINK, 0, ifindex), NULL, NULL);
}
