import type { common, resources, services } from 'google-ads-api';

/**
 * Google Ads REST bodies, typed with the google-ads-api package's own protobuf interfaces.
 * The package's service clients speak gRPC to a fixed endpoint (no loopback fake possible), so we
 * send the documented REST JSON ourselves; these mapped types keep our field names and enum values
 * honest against the package: proto `snake_case` fields become REST `lowerCamelCase`, enums are
 * their string names, int64 values are strings or numbers. Type-only imports: nothing of the
 * package (or gRPC) loads at runtime.
 */

type Camel<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<Camel<Tail>>}`
  : S;

type Scalar = string | number | boolean | null | undefined;

/** A proto interface as REST JSON: camelCase keys, optional fields, no `null`. */
export type Rest<T> = T extends Scalar
  ? T
  : T extends readonly (infer U)[]
    ? Rest<U>[]
    : T extends object
      ? { [K in keyof T as K extends string ? Camel<K> : never]?: Rest<Exclude<T[K], null>> }
      : T;

/** Only the string names of a proto enum (REST never takes the numbers). */
type EnumName<T> = Extract<T, string>;

export type UserIdentifier = Rest<common.IUserIdentifier>;
export type OfflineUserAddressInfo = Rest<common.IOfflineUserAddressInfo>;
export type OfflineUserDataJobOperation = Rest<services.IOfflineUserDataJobOperation>;
export type AddOfflineUserDataJobOperationsRequest = Omit<
  Rest<services.IAddOfflineUserDataJobOperationsRequest>,
  'resourceName'
>;
export type CreateOfflineUserDataJobRequest = Omit<
  Rest<services.ICreateOfflineUserDataJobRequest>,
  'customerId'
>;
export type OfflineUserDataJob = Rest<resources.IOfflineUserDataJob>;
export type UserList = Rest<resources.IUserList>;
export type MutateUserListsRequest = Omit<Rest<services.IMutateUserListsRequest>, 'customerId'>;
export type SearchGoogleAdsRequest = Omit<Rest<services.ISearchGoogleAdsRequest>, 'customerId'>;

export type ConsentStatusName = EnumName<NonNullable<Rest<common.IConsent>['adUserData']>>;
export type UploadKeyTypeName = EnumName<NonNullable<Rest<common.ICrmBasedUserListInfo>['uploadKeyType']>>;
export type JobStatusName = EnumName<NonNullable<OfflineUserDataJob['status']>>;
