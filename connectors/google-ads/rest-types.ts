/**
 * The Google Ads REST bodies this connector sends and reads (API v24), as small types of our own:
 * only the fields the connector uses, named as the REST reference names them (`lowerCamelCase`),
 * enums as their string names, int64 values as strings or numbers. No package is involved: the
 * official client libraries speak gRPC to a fixed endpoint, so nothing of theirs would run here.
 */

/** `ConsentStatusEnum.ConsentStatus`. */
export type ConsentStatusName = 'UNSPECIFIED' | 'UNKNOWN' | 'GRANTED' | 'DENIED';
/** `CustomerMatchUploadKeyTypeEnum.CustomerMatchUploadKeyType`. */
export type UploadKeyTypeName =
  | 'UNSPECIFIED'
  | 'UNKNOWN'
  | 'CONTACT_INFO'
  | 'CRM_ID'
  | 'MOBILE_ADVERTISING_ID';
/** `OfflineUserDataJobStatusEnum.OfflineUserDataJobStatus`. */
export type JobStatusName = 'UNSPECIFIED' | 'UNKNOWN' | 'PENDING' | 'RUNNING' | 'SUCCESS' | 'FAILED';

/** `common.OfflineUserAddressInfo`: names hashed, country and postal code in clear. */
export interface OfflineUserAddressInfo {
  hashedFirstName?: string;
  hashedLastName?: string;
  countryCode?: string;
  postalCode?: string;
}

/** `common.UserIdentifier`: one identifier (the REST `oneof`: set exactly one field). */
export interface UserIdentifier {
  hashedEmail?: string;
  hashedPhoneNumber?: string;
  mobileId?: string;
  thirdPartyUserId?: string;
  addressInfo?: OfflineUserAddressInfo;
}

/** `common.UserData`: the identifiers of one person. */
export interface UserData {
  userIdentifiers?: UserIdentifier[];
}

/** `services.OfflineUserDataJobOperation` (a `oneof`: create, remove or removeAll). */
export interface OfflineUserDataJobOperation {
  create?: UserData;
  remove?: UserData;
  removeAll?: boolean;
}

/** Body of `POST /v24/{resourceName}:addOperations` (the resource name is in the path). */
export interface AddOfflineUserDataJobOperationsRequest {
  enablePartialFailure?: boolean;
  operations?: OfflineUserDataJobOperation[];
}

/** `common.Consent`. */
export interface Consent {
  adUserData?: ConsentStatusName;
  adPersonalization?: ConsentStatusName;
}

/** `resources.OfflineUserDataJob`, as created and as read back by a search. */
export interface OfflineUserDataJob {
  resourceName?: string;
  type?: 'CUSTOMER_MATCH_USER_LIST';
  status?: JobStatusName;
  failureReason?: string;
  customerMatchUserListMetadata?: {
    userList?: string;
    consent?: Consent;
  };
}

/** Body of `POST /v24/customers/{customerId}/offlineUserDataJobs:create`. */
export interface CreateOfflineUserDataJobRequest {
  job?: OfflineUserDataJob;
}

/** `resources.UserList`, the fields of a Customer Match (CRM-based) list. */
export interface UserList {
  name?: string;
  description?: string;
  membershipLifeSpan?: number | string;
  crmBasedUserList?: {
    uploadKeyType?: UploadKeyTypeName;
    appId?: string;
  };
}

/** Body of `POST /v24/customers/{customerId}/userLists:mutate`. */
export interface MutateUserListsRequest {
  operations?: { create?: UserList }[];
}
